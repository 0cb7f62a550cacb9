"""The archive's manifest, the log's days as the archive sees them, restored messages for a
replay from the archive, and per-workspace retention overrides.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OVERRIDES = ("log", "events", "refused", "deliveries")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE archived_objects (
            workspace_id uuid NOT NULL,
            source_id uuid NOT NULL,
            day date NOT NULL,
            key text NOT NULL,
            messages integer NOT NULL,
            bytes bigint NOT NULL,
            sha256 varchar(64) NOT NULL,
            archived_at timestamptz NOT NULL,
            CONSTRAINT pk_archived_objects PRIMARY KEY (workspace_id, day, source_id)
        )
        """
    )
    op.execute("CREATE INDEX ix_archived_objects_day ON archived_objects (day)")
    op.execute(
        """
        CREATE TABLE archive_days (
            day date NOT NULL,
            messages bigint,
            objects integer,
            dropped_at timestamptz,
            last_error text,
            last_error_at timestamptz,
            CONSTRAINT pk_archive_days PRIMARY KEY (day)
        )
        """
    )
    op.execute(
        """
        CREATE UNLOGGED TABLE restored_messages (
            id bigint NOT NULL,
            workspace_id uuid NOT NULL,
            source_id uuid NOT NULL,
            message_id varchar(100) NOT NULL,
            type varchar(16) NOT NULL,
            received_at timestamptz NOT NULL,
            timestamp timestamptz NOT NULL,
            message jsonb NOT NULL,
            warnings jsonb,
            CONSTRAINT pk_restored_messages PRIMARY KEY (workspace_id, id, received_at)
        )
        """
    )
    for name in _OVERRIDES:
        op.execute(f"ALTER TABLE workspaces ADD COLUMN {name}_retention_days integer")


def downgrade() -> None:
    for name in _OVERRIDES:
        op.execute(f"ALTER TABLE workspaces DROP COLUMN {name}_retention_days")
    op.execute("DROP TABLE restored_messages")
    op.execute("DROP TABLE archive_days")
    op.execute("DROP TABLE archived_objects")
