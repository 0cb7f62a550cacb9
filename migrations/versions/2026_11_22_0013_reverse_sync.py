"""Reverse sync: rules, the values last pushed, and runs with the writes they made.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reverse_sync_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("destination_id", sa.UUID(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("match_field", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["destination_id"],
            ["destinations.id"],
            name="fk_reverse_sync_rules_destination_id_destinations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reverse_sync_rules"),
        sa.UniqueConstraint(
            "destination_id",
            "target",
            "field",
            name="uq_reverse_sync_rules_destination_id_target_field",
        ),
    )
    op.create_index("ix_reverse_sync_rules_workspace_id", "reverse_sync_rules", ["workspace_id"])
    op.create_table(
        "reverse_sync_values",
        sa.Column("rule_id", sa.UUID(), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("match_value", sa.Text(), nullable=False),
        sa.Column("value", postgresql.JSONB(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["reverse_sync_rules.id"],
            name="fk_reverse_sync_values_rule_id_reverse_sync_rules",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "entity_id", name="pk_reverse_sync_values"),
    )
    op.create_table(
        "reverse_sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", postgresql.JSONB(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reverse_sync_runs"),
    )
    op.create_index("ix_reverse_sync_runs_workspace_id", "reverse_sync_runs", ["workspace_id"])
    op.create_table(
        "reverse_sync_items",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("destination_id", sa.UUID(), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("unique_identifier", postgresql.JSONB(), nullable=False),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["reverse_sync_runs.id"],
            name="fk_reverse_sync_items_run_id_reverse_sync_runs",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reverse_sync_items"),
    )
    op.create_index("ix_reverse_sync_items_run_id", "reverse_sync_items", ["run_id"])


def downgrade() -> None:
    op.drop_table("reverse_sync_items")
    op.drop_table("reverse_sync_runs")
    op.drop_table("reverse_sync_values")
    op.drop_table("reverse_sync_rules")
