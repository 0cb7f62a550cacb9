"""deliveries becomes a table partitioned by day of its message's `received_at`.

A delivery carries its message's `received_at` (stable for a message, so queueing it twice
still finds the first), which it is partitioned on. Its primary key becomes
`(workspace_id, id, received_at)` and its uniqueness `(workspace_id, destination_id,
inbound_message_id, received_at)`. The existing rows are copied with their ids into the
partition of their message's day; the identity goes on from the highest id.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAYS_AHEAD = 7  # as pulsegate.storage.partitions.DAYS_AHEAD, frozen for this migration

# The columns after the message's id, the same before and after this migration.
_SENDING = """
            message_id varchar(100) NOT NULL,
            ordering_key text NOT NULL,
            status varchar(16) NOT NULL,
            attempts integer NOT NULL,
            next_attempt_at timestamptz NOT NULL,
            last_error text,
            created_at timestamptz NOT NULL,
            sent_at timestamptz,
"""
_KEYS = """
            id bigint GENERATED ALWAYS AS IDENTITY,
            workspace_id uuid NOT NULL,
            destination_id uuid NOT NULL,
            inbound_message_id bigint NOT NULL,
"""

_INDEXES = {
    "ix_deliveries_due": "status, next_attempt_at",
    "ix_deliveries_destination_id_ordering_key": "destination_id, ordering_key",
    "ix_deliveries_destination_id_id": "destination_id, id",
    "ix_deliveries_destination_id_status": "destination_id, status, id",
}


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def upgrade() -> None:
    op.execute("ALTER TABLE deliveries RENAME TO deliveries_unpartitioned")
    op.execute("ALTER INDEX pk_deliveries RENAME TO pk_deliveries_unpartitioned")
    op.execute(
        "ALTER INDEX uq_deliveries_destination_id_inbound_message_id "
        "RENAME TO uq_deliveries_unpartitioned"
    )
    for name in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_unpartitioned")
    op.execute(
        "CREATE TABLE deliveries ("
        + _KEYS
        + "received_at timestamptz NOT NULL,"
        + _SENDING
        + """CONSTRAINT pk_deliveries PRIMARY KEY (workspace_id, id, received_at),
            CONSTRAINT uq_deliveries_message
                UNIQUE (workspace_id, destination_id, inbound_message_id, received_at)
        ) PARTITION BY RANGE (received_at)"""
    )
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON deliveries ({columns})")
    op.execute("CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT")

    connection = op.get_bind()
    oldest = connection.exec_driver_sql(
        """
        SELECT min(m.received_at) FROM deliveries_unpartitioned d
        JOIN inbound_messages m ON m.workspace_id = d.workspace_id AND m.id = d.inbound_message_id
        """
    ).scalar()
    today = datetime.now(UTC).date()
    day = oldest.astimezone(UTC).date() if oldest is not None else today
    while day <= today + timedelta(days=DAYS_AHEAD):
        op.execute(
            f"CREATE TABLE deliveries_p{day:%Y%m%d} PARTITION OF deliveries "
            f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')"
        )
        day += timedelta(days=1)
    # A delivery whose message is gone (none is deleted today) keeps its own creation time.
    op.execute(
        """
        INSERT INTO deliveries OVERRIDING SYSTEM VALUE
        SELECT d.id, d.workspace_id, d.destination_id, d.inbound_message_id,
               COALESCE(m.received_at, d.created_at), d.message_id, d.ordering_key, d.status,
               d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.sent_at
        FROM deliveries_unpartitioned d
        LEFT JOIN inbound_messages m
               ON m.workspace_id = d.workspace_id AND m.id = d.inbound_message_id
        """
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('deliveries', 'id'), "
        "COALESCE((SELECT max(id) FROM deliveries), 0) + 1, false)"
    )
    op.execute("DROP TABLE deliveries_unpartitioned")


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries RENAME TO deliveries_partitioned")
    op.execute("ALTER INDEX pk_deliveries RENAME TO pk_deliveries_partitioned")
    op.execute("ALTER INDEX uq_deliveries_message RENAME TO uq_deliveries_message_partitioned")
    for name in _INDEXES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_partitioned")
    op.execute(
        "CREATE TABLE deliveries ("
        + _KEYS
        + _SENDING
        + """CONSTRAINT pk_deliveries PRIMARY KEY (id),
            CONSTRAINT uq_deliveries_destination_id_inbound_message_id
                UNIQUE (destination_id, inbound_message_id)
        )"""
    )
    op.execute(
        """
        INSERT INTO deliveries OVERRIDING SYSTEM VALUE
        SELECT id, workspace_id, destination_id, inbound_message_id, message_id, ordering_key,
               status, attempts, next_attempt_at, last_error, created_at, sent_at
        FROM deliveries_partitioned
        """
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('deliveries', 'id'), "
        "COALESCE((SELECT max(id) FROM deliveries), 0) + 1, false)"
    )
    op.execute("DROP TABLE deliveries_partitioned")
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON deliveries ({columns})")
