"""Events are partitioned by month of their `timestamp`, and dropped a month at a time.

`events` becomes range-partitioned on `timestamp`, one partition a calendar month (UTC): a
customer-success team compares a year with the year before, so events are kept 13 months
(`PULSEGATE_EVENTS_RETENTION_DAYS`, 395) and a month is the unit that leaves. A partitioned
table's keys must hold its partition column: the primary key becomes
`(workspace_id, timestamp, id)`, which is also the order of every events list (so the index
`ix_events_workspace_id_timestamp` that served it goes), and an event's message is unique per
`(workspace_id, message_id, timestamp)`: a message's timestamp never changes, so projecting it
again still finds its event.

Months are made from the oldest one retention keeps (13 months back) to the month after
today's; an older or far-future event lives in the default partition. The rows are copied
with their ids in this migration's transaction (a large table takes minutes).

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RETENTION_DAYS = 395  # the default events retention, frozen for this migration
DAYS_AHEAD = 7  # as pulsegate.storage.partitions.DAYS_AHEAD, frozen for this migration

_COLUMNS = """
    id bigint GENERATED ALWAYS AS IDENTITY,
    workspace_id uuid NOT NULL,
    message_id varchar(100) NOT NULL,
    type varchar(16) NOT NULL,
    "timestamp" timestamptz NOT NULL,
    account_id text,
    user_id text,
    anonymous_id text,
    name text,
    module text,
    category text,
    properties jsonb NOT NULL,
    session_key text GENERATED ALWAYS AS (COALESCE(anonymous_id, user_id)) STORED,
    resolved_user_id text,
    resolved_account_id text,
"""
_INDEXES = (
    "CREATE INDEX ix_events_resolved_account ON events "
    '(workspace_id, resolved_account_id, "timestamp", id)',
    "CREATE INDEX ix_events_resolved_user ON events "
    '(workspace_id, resolved_user_id, "timestamp", id)',
    "CREATE INDEX ix_events_session_order ON events "
    '(workspace_id, session_key, "timestamp", message_id)',
    'CREATE INDEX ix_events_workspace_id_type ON events (workspace_id, type, "timestamp", id) '
    "WHERE type <> 'track'",
)
_COPY = (
    "INSERT INTO events (id, workspace_id, message_id, type, timestamp, account_id, user_id, "
    "anonymous_id, name, module, category, properties, resolved_user_id, resolved_account_id) "
    "OVERRIDING SYSTEM VALUE "
    "SELECT id, workspace_id, message_id, type, timestamp, account_id, user_id, anonymous_id, "
    "name, module, category, properties, resolved_user_id, resolved_account_id FROM {source}"
)


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def upgrade() -> None:
    today = datetime.now(UTC).date()
    op.execute("ALTER TABLE events RENAME TO events_unpartitioned")
    op.execute("ALTER INDEX pk_events RENAME TO pk_events_unpartitioned")
    op.execute(
        "ALTER TABLE events_unpartitioned RENAME CONSTRAINT uq_events_workspace_id_message_id "
        "TO uq_events_unpartitioned_message_id"
    )
    for index in (
        "ix_events_resolved_account",
        "ix_events_resolved_user",
        "ix_events_session_order",
        "ix_events_workspace_id_type",
        "ix_events_workspace_id_timestamp",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute(
        "CREATE TABLE events ("
        + _COLUMNS
        + """CONSTRAINT pk_events PRIMARY KEY (workspace_id, "timestamp", id),
            CONSTRAINT uq_events_workspace_id_message_id_timestamp
                UNIQUE (workspace_id, message_id, "timestamp")
        ) PARTITION BY RANGE ("timestamp")"""
    )
    for statement in _INDEXES:
        op.execute(statement)
    op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    month = (today - timedelta(days=RETENTION_DAYS)).replace(day=1)
    while month <= today + timedelta(days=DAYS_AHEAD):
        op.execute(
            f"CREATE TABLE events_p{month:%Y%m%d} PARTITION OF events "
            f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(_next_month(month))}')"
        )
        month = _next_month(month)
    op.execute(_COPY.format(source="events_unpartitioned"))
    op.execute(
        "SELECT setval(pg_get_serial_sequence('events', 'id'), "
        "COALESCE((SELECT max(id) FROM events), 0) + 1, false)"
    )
    op.execute("DROP TABLE events_unpartitioned")


def downgrade() -> None:
    op.execute("ALTER TABLE events RENAME TO events_partitioned")
    op.execute("ALTER INDEX pk_events RENAME TO pk_events_partitioned")
    op.execute(
        "ALTER TABLE events_partitioned RENAME CONSTRAINT "
        "uq_events_workspace_id_message_id_timestamp TO uq_events_partitioned_message_id"
    )
    for index in (
        "ix_events_resolved_account",
        "ix_events_resolved_user",
        "ix_events_session_order",
        "ix_events_workspace_id_type",
    ):
        op.execute(f"DROP INDEX {index}")
    op.execute(
        "CREATE TABLE events ("
        + _COLUMNS
        + """CONSTRAINT pk_events PRIMARY KEY (id),
            CONSTRAINT uq_events_workspace_id_message_id UNIQUE (workspace_id, message_id)
        )"""
    )
    for statement in _INDEXES:
        op.execute(statement)
    op.execute(
        'CREATE INDEX ix_events_workspace_id_timestamp ON events (workspace_id, "timestamp", id)'
    )
    op.execute(_COPY.format(source="events_partitioned") + " ON CONFLICT DO NOTHING")
    op.execute(
        "SELECT setval(pg_get_serial_sequence('events', 'id'), "
        "COALESCE((SELECT max(id) FROM events), 0) + 1, false)"
    )
    op.execute("DROP TABLE events_partitioned")
