"""Projector watermark and failures, and the events projection.

`inbound_messages.txid` records the inserting transaction, so the projector can read the log in
an order no later commit can slip behind (see pulsegate.projection.repository).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TXID = sa.text("(pg_current_xact_id()::text)::bigint")


def upgrade() -> None:
    op.add_column(
        "inbound_messages",
        sa.Column("txid", sa.BigInteger(), server_default=CURRENT_TXID, nullable=False),
    )
    op.create_index("ix_inbound_messages_txid_id", "inbound_messages", ["txid", "id"])
    op.create_table(
        "projector_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_txid", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_projector_state"),
    )
    op.create_table(
        "projection_failures",
        sa.Column("inbound_message_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("inbound_message_id", name="pk_projection_failures"),
    )
    op.create_index("ix_projection_failures_workspace_id", "projection_failures", ["workspace_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.Text(), nullable=True),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("anonymous_id", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("module", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("properties", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("workspace_id", "message_id", name="uq_events_workspace_id_message_id"),
    )
    op.create_index("ix_events_workspace_id_timestamp", "events", ["workspace_id", "timestamp"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("projection_failures")
    op.drop_table("projector_state")
    op.drop_index("ix_inbound_messages_txid_id", table_name="inbound_messages")
    op.drop_column("inbound_messages", "txid")
