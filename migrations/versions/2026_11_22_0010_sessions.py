"""Sessions: a session key on events, the sessions table, and the sweep's queue of dirty keys.

`resolved_sessions` attributes a session when it is read, by the rules of `resolved_events`:
its user is its own last userId (following an alias), else the user its session key (an
anonymousId) was tied to; its account is its own last groupId, else that user's current account.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLVED_SESSIONS = """
CREATE VIEW resolved_sessions AS
SELECT s.id, s.workspace_id, s.session_key, s.started_at, s.ended_at, s.events, s.duration_ms,
       s.modules, s.features, s.closed,
       r.user_id,
       COALESCE(s.group_id, u.fields->'account_id'->>'v') AS account_id
FROM sessions s
LEFT JOIN identities by_user
       ON by_user.workspace_id = s.workspace_id AND by_user.alias = s.user_id
LEFT JOIN identities by_key
       ON by_key.workspace_id = s.workspace_id AND by_key.alias = s.session_key
CROSS JOIN LATERAL (
    SELECT COALESCE(by_user.user_id, s.user_id, by_key.user_id) AS user_id
) AS r
LEFT JOIN users u ON u.workspace_id = s.workspace_id AND u.user_id = r.user_id
"""


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column(
            "session_key",
            sa.Text(),
            sa.Computed("COALESCE(anonymous_id, user_id)", persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_events_session_order",
        "events",
        ["workspace_id", "session_key", "timestamp", "message_id"],
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("session_key", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("chain_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_message_id", sa.String(100), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=True),
        sa.Column("group_id", sa.Text(), nullable=True),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=False),
        sa.Column("modules", postgresql.JSONB(), nullable=False),
        sa.Column("features", postgresql.JSONB(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint(
            "workspace_id",
            "session_key",
            "started_at",
            name="uq_sessions_workspace_id_session_key_started_at",
        ),
    )
    op.create_index(
        "ix_sessions_workspace_id_started_at", "sessions", ["workspace_id", "started_at"]
    )
    op.create_table(
        "session_dirty",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("session_key", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "session_key", name="pk_session_dirty"),
    )
    op.execute(RESOLVED_SESSIONS)


def downgrade() -> None:
    op.execute("DROP VIEW resolved_sessions")
    op.drop_table("session_dirty")
    op.drop_table("sessions")
    op.drop_index("ix_events_session_order", table_name="events")
    op.drop_column("events", "session_key")
