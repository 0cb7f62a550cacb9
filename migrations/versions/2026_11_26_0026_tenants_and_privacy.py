"""Tenants and privacy: key lifecycle, rate limits, the audit log, erasures and suppressions.

- API keys can expire (the grace period after a rotation) or be revoked; a source keeps its
  previous write key until the grace period ends.
- Workspaces and sources may set their own rate limit (messages a second); `rate_windows`
  sums each source's messages a second over every replica, unlogged (a lost count only lets a
  second through unthrottled).
- `audit_log` records administrative actions; global, it outlives an offboarded workspace.
- `erasures` tracks erasure jobs, `suppressions` the hashed ids whose messages are dropped.

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_workspace", "audit_log", ["workspace_id", "id"], unique=False)
    op.create_table(
        "rate_windows",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("source_id", sa.UUID(), nullable=False),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "source_id", "second", name=op.f("pk_rate_windows")
        ),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_ids", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("delete_in_destinations", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "counts", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_erasures_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_erasures")),
    )
    op.create_index(
        "ix_erasures_unfinished",
        "erasures",
        ["requested_at"],
        unique=False,
        postgresql_where=sa.text("finished_at IS NULL"),
    )
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("erasure_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_suppressions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id_hash", name=op.f("pk_suppressions")),
    )
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "sources", sa.Column("previous_write_key_hash", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "sources",
        sa.Column("previous_write_key_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("sources", sa.Column("rate_limit_per_second", sa.Integer(), nullable=True))
    op.create_unique_constraint(
        op.f("uq_sources_previous_write_key_hash"), "sources", ["previous_write_key_hash"]
    )
    op.add_column("workspaces", sa.Column("rate_limit_per_second", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("workspaces", "rate_limit_per_second")
    op.drop_constraint(op.f("uq_sources_previous_write_key_hash"), "sources", type_="unique")
    op.drop_column("sources", "rate_limit_per_second")
    op.drop_column("sources", "previous_write_key_expires_at")
    op.drop_column("sources", "previous_write_key_hash")
    op.drop_column("api_keys", "revoked_at")
    op.drop_column("api_keys", "expires_at")
    op.drop_table("suppressions")
    op.drop_index(
        "ix_erasures_unfinished",
        table_name="erasures",
        postgresql_where=sa.text("finished_at IS NULL"),
    )
    op.drop_table("erasures")
    op.drop_table("rate_windows")
    op.drop_index("ix_audit_log_workspace", table_name="audit_log")
    op.drop_table("audit_log")
