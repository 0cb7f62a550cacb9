"""Fast at any size: attribution stored at write time, per-workspace projection, serving indexes.

- `events` and `sessions` carry their resolved user and account (`resolved_user_id`,
  `resolved_account_id`), kept current by the projector when an identify, alias or group call
  changes them (pulsegate.projection.attribution). The read-time views `resolved_events` and
  `resolved_sessions` are dropped: no index could serve a filter on a value they computed.
- `users.account_id` (the account of the user's latest group call) and `accounts.created` are
  stored generated columns, so "users of an account" and "the visible accounts" have indexes.
  Generated from `fields`, they keep updates HOT: an index on an expression of `fields` would not.
- The log is read per workspace in `id` order: its primary key becomes `(workspace_id, id)`
  (with `id` alone first, the planner walked it for one workspace's rows, filtering out the
  others'), `projector_positions` holds one position per workspace, replacing the single
  `projector_state` row, and `inbound_messages.txid` (the old reading order) is gone with its
  index. Existing positions are carried over conservatively: a
  workspace restarts just before its first message the old position had not covered (applying a
  message twice changes nothing).
- The sweep claims its keys oldest first through an index on `session_dirty.since`: sorting
  the whole queue for each claim cost the square of the queue after a replay.
- The lists of refused messages and of a destination's deliveries get indexes in their cursor
  order.
- `replay_kept` holds, while `pulsegate replay` runs, the values a rebuild must keep (those that
  are not in the log), so the replay can run in many short transactions.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_EVENTS = """
UPDATE events e SET resolved_user_id = r.user_id, resolved_account_id = r.account_id
FROM resolved_events r WHERE r.id = e.id
"""
_BACKFILL_SESSIONS = """
UPDATE sessions s SET resolved_user_id = r.user_id, resolved_account_id = r.account_id
FROM resolved_sessions r WHERE r.id = s.id
"""
_CARRY_POSITIONS = """
INSERT INTO projector_positions (workspace_id, last_id, updated_at)
SELECT w.id, COALESCE(
           (SELECT min(m.id) - 1 FROM inbound_messages m
            WHERE m.workspace_id = w.id AND (m.txid, m.id) > (p.last_txid, p.last_id)),
           (SELECT max(m.id) FROM inbound_messages m WHERE m.workspace_id = w.id),
           0),
       now()
FROM workspaces w CROSS JOIN (
    SELECT last_txid, last_id FROM projector_state WHERE name = 'main'
    UNION ALL SELECT 0, 0 WHERE NOT EXISTS (SELECT 1 FROM projector_state)
) p
"""
# What downgrade restores: the views of migrations 0004 and 0010, as they were.
_READ_TIME_VIEWS = """
CREATE VIEW resolved_events AS
SELECT e.id, e.workspace_id, e.message_id, e.type, e.timestamp, e.anonymous_id, e.name,
       e.module, e.category, e.properties, r.user_id,
       COALESCE(e.account_id, u.fields->'account_id'->>'v') AS account_id
FROM events e
LEFT JOIN identities by_user ON by_user.workspace_id = e.workspace_id AND by_user.alias = e.user_id
LEFT JOIN identities by_anonymous
       ON by_anonymous.workspace_id = e.workspace_id AND by_anonymous.alias = e.anonymous_id
CROSS JOIN LATERAL (
    SELECT COALESCE(by_user.user_id, e.user_id, by_anonymous.user_id) AS user_id) AS r
LEFT JOIN users u ON u.workspace_id = e.workspace_id AND u.user_id = r.user_id;
CREATE VIEW resolved_sessions AS
SELECT s.id, s.workspace_id, s.session_key, s.started_at, s.ended_at, s.events, s.duration_ms,
       s.modules, s.features, s.closed, r.user_id,
       COALESCE(s.group_id, u.fields->'account_id'->>'v') AS account_id
FROM sessions s
LEFT JOIN identities by_user ON by_user.workspace_id = s.workspace_id AND by_user.alias = s.user_id
LEFT JOIN identities by_key ON by_key.workspace_id = s.workspace_id AND by_key.alias = s.session_key
CROSS JOIN LATERAL (
    SELECT COALESCE(by_user.user_id, s.user_id, by_key.user_id) AS user_id) AS r
LEFT JOIN users u ON u.workspace_id = s.workspace_id AND u.user_id = r.user_id
"""
_CREATED = "fields ? '_has_name' AND fields ? '_has_created_at'"


def upgrade() -> None:
    for table in ("events", "sessions"):
        op.add_column(table, sa.Column("resolved_user_id", sa.Text(), nullable=True))
        op.add_column(table, sa.Column("resolved_account_id", sa.Text(), nullable=True))
    op.execute(_BACKFILL_EVENTS)
    op.execute(_BACKFILL_SESSIONS)
    op.execute("DROP VIEW resolved_events")
    op.execute("DROP VIEW resolved_sessions")

    op.drop_index("ix_events_workspace_id_timestamp", table_name="events")
    op.create_index(
        "ix_events_workspace_id_timestamp", "events", ["workspace_id", "timestamp", "id"]
    )
    # Tracks are most events: a track filter reads the time index densely enough, and leaving
    # them out spares most inserts one index.
    op.create_index(
        "ix_events_workspace_id_type",
        "events",
        ["workspace_id", "type", "timestamp", "id"],
        postgresql_where=sa.text("type <> 'track'"),
    )
    op.create_index(
        "ix_events_resolved_user", "events", ["workspace_id", "resolved_user_id", "timestamp", "id"]
    )
    op.create_index(
        "ix_events_resolved_account",
        "events",
        ["workspace_id", "resolved_account_id", "timestamp", "id"],
    )

    op.drop_index("ix_sessions_workspace_id_started_at", table_name="sessions")
    op.create_index(
        "ix_sessions_workspace_id_started_at", "sessions", ["workspace_id", "started_at", "id"]
    )
    op.create_index(
        "ix_sessions_resolved_user",
        "sessions",
        ["workspace_id", "resolved_user_id", "started_at", "id"],
    )
    op.create_index(
        "ix_sessions_resolved_account",
        "sessions",
        ["workspace_id", "resolved_account_id", "started_at", "id"],
    )
    op.create_index(
        "ix_sessions_open", "sessions", ["ended_at"], postgresql_where=sa.text("NOT closed")
    )
    op.create_index("ix_session_dirty_since", "session_dirty", ["since"])

    op.add_column(
        "users",
        sa.Column(
            "account_id",
            sa.Text(),
            sa.Computed("(fields -> 'account_id') ->> 'v'", persisted=True),
            nullable=True,
        ),
    )
    op.create_index("ix_users_account", "users", ["workspace_id", "account_id", "id"])
    op.add_column(
        "accounts",
        sa.Column("created", sa.Boolean(), sa.Computed(_CREATED, persisted=True), nullable=True),
    )
    op.create_index(
        "ix_accounts_created",
        "accounts",
        ["workspace_id", "id"],
        postgresql_where=sa.text("created"),
    )

    op.create_index("ix_rejected_messages_received_at", "rejected_messages", ["received_at"])
    op.drop_index("ix_rejected_messages_workspace_id", table_name="rejected_messages")
    op.create_index(
        "ix_rejected_messages_workspace_id_id", "rejected_messages", ["workspace_id", "id"]
    )
    op.create_index("ix_deliveries_destination_id_id", "deliveries", ["destination_id", "id"])
    op.create_index(
        "ix_deliveries_destination_id_status", "deliveries", ["destination_id", "status", "id"]
    )

    op.create_table(
        "projector_positions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_projector_positions"),
    )
    op.execute(_CARRY_POSITIONS)
    op.drop_table("projector_state")
    op.drop_index("ix_inbound_messages_txid_id", table_name="inbound_messages")
    op.drop_column("inbound_messages", "txid")
    op.drop_constraint("pk_inbound_messages", "inbound_messages", type_="primary")
    op.create_primary_key("pk_inbound_messages", "inbound_messages", ["workspace_id", "id"])

    op.create_table(
        "replay_kept",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("object", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("fields", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "object", "entity_id", name="pk_replay_kept"),
    )


def downgrade() -> None:
    op.drop_table("replay_kept")
    op.drop_constraint("pk_inbound_messages", "inbound_messages", type_="primary")
    op.create_primary_key("pk_inbound_messages", "inbound_messages", ["id"])
    op.add_column(
        "inbound_messages",
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
        ),
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
    op.drop_table("projector_positions")
    op.drop_index("ix_deliveries_destination_id_status", table_name="deliveries")
    op.drop_index("ix_deliveries_destination_id_id", table_name="deliveries")
    op.drop_index("ix_rejected_messages_workspace_id_id", table_name="rejected_messages")
    op.create_index("ix_rejected_messages_workspace_id", "rejected_messages", ["workspace_id"])
    op.drop_index("ix_rejected_messages_received_at", table_name="rejected_messages")
    op.drop_index("ix_accounts_created", table_name="accounts")
    op.drop_column("accounts", "created")
    op.drop_index("ix_users_account", table_name="users")
    op.drop_column("users", "account_id")
    op.drop_index("ix_session_dirty_since", table_name="session_dirty")
    op.drop_index("ix_sessions_open", table_name="sessions")
    op.drop_index("ix_sessions_resolved_account", table_name="sessions")
    op.drop_index("ix_sessions_resolved_user", table_name="sessions")
    op.drop_index("ix_sessions_workspace_id_started_at", table_name="sessions")
    op.create_index(
        "ix_sessions_workspace_id_started_at", "sessions", ["workspace_id", "started_at"]
    )
    op.drop_index("ix_events_resolved_account", table_name="events")
    op.drop_index("ix_events_resolved_user", table_name="events")
    op.drop_index("ix_events_workspace_id_type", table_name="events")
    op.drop_index("ix_events_workspace_id_timestamp", table_name="events")
    op.create_index("ix_events_workspace_id_timestamp", "events", ["workspace_id", "timestamp"])
    op.execute(_READ_TIME_VIEWS)
    for table in ("events", "sessions"):
        op.drop_column(table, "resolved_account_id")
        op.drop_column(table, "resolved_user_id")
