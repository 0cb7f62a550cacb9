"""The log is partitioned by day of `received_at`; dedup moves to a bounded window.

`inbound_messages` becomes range-partitioned on `received_at`, one partition a day, keyed
`(workspace_id, id, received_at)`. A partitioned table's unique constraints must include its
partition column, so `(workspace_id, message_id)` can no longer be unique across the whole
log: deduplication moves to `message_ids`, one partition a week with its own unique index on
`(workspace_id, message_id)`, which the writer looks into (this week and the one before)
before storing a message (`PULSEGATE_DEDUP_WINDOW_DAYS`, 7), and whose weeks past the window
are dropped. The window is seeded from the log's messages of its days.

The rows of the log are copied with their ids into their days (in this migration's
transaction: a large log takes minutes), the identity goes on from the highest id.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAYS_AHEAD = 7  # as pulsegate.storage.partitions.DAYS_AHEAD, frozen for this migration
WINDOW_DAYS = 7  # the default dedup window, frozen for this migration

_LOG_COLUMNS = """
    id bigint GENERATED ALWAYS AS IDENTITY,
    workspace_id uuid NOT NULL,
    source_id uuid NOT NULL,
    message_id varchar(100) NOT NULL,
    type varchar(16) NOT NULL,
    received_at timestamptz NOT NULL,
    timestamp timestamptz NOT NULL,
    message jsonb NOT NULL,
    warnings jsonb,
"""


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def _day_partition(table: str, day: date) -> str:
    return (
        f"CREATE TABLE {table}_p{day:%Y%m%d} PARTITION OF {table} "
        f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')"
    )


def upgrade() -> None:
    connection = op.get_bind()
    today = datetime.now(UTC).date()

    op.execute("ALTER TABLE inbound_messages RENAME TO inbound_messages_unpartitioned")
    op.execute("ALTER INDEX pk_inbound_messages RENAME TO pk_inbound_messages_unpartitioned")
    op.execute(
        "ALTER TABLE inbound_messages_unpartitioned "
        "DROP CONSTRAINT uq_inbound_messages_workspace_id_message_id"
    )
    op.execute(
        "CREATE TABLE inbound_messages ("
        + _LOG_COLUMNS
        + """CONSTRAINT pk_inbound_messages PRIMARY KEY (workspace_id, id, received_at)
        ) PARTITION BY RANGE (received_at)"""
    )
    op.execute("CREATE TABLE inbound_messages_default PARTITION OF inbound_messages DEFAULT")
    oldest = connection.exec_driver_sql(
        "SELECT min(received_at) FROM inbound_messages_unpartitioned"
    ).scalar()
    day = oldest.astimezone(UTC).date() if oldest is not None else today
    while day <= today + timedelta(days=DAYS_AHEAD):
        op.execute(_day_partition("inbound_messages", day))
        day += timedelta(days=1)
    op.execute(
        "INSERT INTO inbound_messages OVERRIDING SYSTEM VALUE "
        "SELECT * FROM inbound_messages_unpartitioned"
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('inbound_messages', 'id'), "
        "COALESCE((SELECT max(id) FROM inbound_messages), 0) + 1, false)"
    )
    op.execute("DROP TABLE inbound_messages_unpartitioned")

    op.execute(
        """
        CREATE TABLE message_ids (
            workspace_id uuid NOT NULL,
            message_id varchar(100) NOT NULL,
            received_at timestamptz NOT NULL
        ) PARTITION BY RANGE (received_at)
        """
    )
    op.execute("CREATE TABLE message_ids_default PARTITION OF message_ids DEFAULT")
    op.execute(
        "CREATE UNIQUE INDEX message_ids_default_unique "
        "ON message_ids_default (workspace_id, message_id)"
    )
    # A partition a week, from Monday, with its own unique index.
    first = today - timedelta(days=WINDOW_DAYS)
    week = first - timedelta(days=first.weekday())
    while week <= today + timedelta(days=DAYS_AHEAD):
        name = f"message_ids_p{week:%Y%m%d}"
        op.execute(
            f"CREATE TABLE {name} PARTITION OF message_ids "
            f"FOR VALUES FROM ('{_bound(week)}') TO ('{_bound(week + timedelta(days=7))}')"
        )
        op.execute(f"CREATE UNIQUE INDEX {name}_unique ON {name} (workspace_id, message_id)")
        week += timedelta(days=7)
    # The window's messages, each once (the first time its id was stored).
    op.execute(
        f"""
        INSERT INTO message_ids (workspace_id, message_id, received_at)
        SELECT DISTINCT ON (workspace_id, message_id) workspace_id, message_id, received_at
        FROM inbound_messages
        WHERE received_at >= '{_bound(today - timedelta(days=WINDOW_DAYS))}'
        ORDER BY workspace_id, message_id, received_at
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE message_ids")
    op.execute("ALTER TABLE inbound_messages RENAME TO inbound_messages_partitioned")
    op.execute("ALTER INDEX pk_inbound_messages RENAME TO pk_inbound_messages_partitioned")
    op.execute(
        "CREATE TABLE inbound_messages ("
        + _LOG_COLUMNS
        + """CONSTRAINT pk_inbound_messages PRIMARY KEY (workspace_id, id),
            CONSTRAINT uq_inbound_messages_workspace_id_message_id
                UNIQUE (workspace_id, message_id)
        )"""
    )
    # A message stored twice (a duplicate older than the window) keeps its first copy.
    op.execute(
        """
        INSERT INTO inbound_messages OVERRIDING SYSTEM VALUE
        SELECT * FROM inbound_messages_partitioned ORDER BY id
        ON CONFLICT (workspace_id, message_id) DO NOTHING
        """
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('inbound_messages', 'id'), "
        "COALESCE((SELECT max(id) FROM inbound_messages), 0) + 1, false)"
    )
    op.execute("DROP TABLE inbound_messages_partitioned")
