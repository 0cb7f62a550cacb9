"""rejected_messages becomes a table partitioned by day of `received_at`.

The first of the tables that grow with traffic to hold one partition a day, dropped whole
when past retention (pulsegate.storage.partitions). Its primary key becomes
`(workspace_id, id, received_at)`: a partitioned table's keys include the partition column,
and every domain table's keys will carry `workspace_id` ("Hosted for years").

The existing rows are copied with their ids into a partition of their day (all of them, in
this migration's transaction: refused messages are few next to the log), the identity goes
on from the highest id, and the old table is dropped.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-26
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAYS_AHEAD = 7  # as pulsegate.storage.partitions.DAYS_AHEAD, frozen for this migration

_COLUMNS = """
    id bigint GENERATED ALWAYS AS IDENTITY,
    workspace_id uuid NOT NULL,
    source_id uuid,
    received_at timestamptz NOT NULL,
    endpoint varchar(64) NOT NULL,
    message_id text,
    batch_index integer,
    raw_body bytea NOT NULL,
    body_truncated boolean NOT NULL,
    reasons jsonb NOT NULL,
    replayed_at timestamptz,
"""

_CREATE = (
    """
CREATE TABLE rejected_messages (
"""
    + _COLUMNS
    + """    CONSTRAINT pk_rejected_messages PRIMARY KEY (workspace_id, id, received_at),
    CONSTRAINT fk_rejected_messages_workspace_id_workspaces FOREIGN KEY (workspace_id)
        REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT fk_rejected_messages_source_id_sources FOREIGN KEY (source_id)
        REFERENCES sources (id) ON DELETE SET NULL
) PARTITION BY RANGE (received_at)
"""
)


def _bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


def upgrade() -> None:
    op.execute("ALTER TABLE rejected_messages RENAME TO rejected_messages_unpartitioned")
    for name in ("pk_rejected_messages", "ix_rejected_messages_received_at"):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_unpartitioned")
    op.execute(
        "ALTER INDEX ix_rejected_messages_workspace_id_id "
        "RENAME TO ix_rejected_messages_workspace_id_id_unpartitioned"
    )
    for constraint in ("workspace_id_workspaces", "source_id_sources"):
        op.execute(
            f"ALTER TABLE rejected_messages_unpartitioned "
            f"DROP CONSTRAINT fk_rejected_messages_{constraint}"
        )
    op.execute(_CREATE)
    op.execute("CREATE INDEX ix_rejected_messages_received_at ON rejected_messages (received_at)")
    op.execute("CREATE TABLE rejected_messages_default PARTITION OF rejected_messages DEFAULT")

    connection = op.get_bind()
    oldest = connection.exec_driver_sql(
        "SELECT min(received_at) FROM rejected_messages_unpartitioned"
    ).scalar()
    today = datetime.now(UTC).date()
    first = oldest.astimezone(UTC).date() if oldest is not None else today
    day = first
    while day <= today + timedelta(days=DAYS_AHEAD):
        op.execute(
            f"CREATE TABLE rejected_messages_p{day:%Y%m%d} PARTITION OF rejected_messages "
            f"FOR VALUES FROM ('{_bound(day)}') TO ('{_bound(day + timedelta(days=1))}')"
        )
        day += timedelta(days=1)
    op.execute(
        """
        INSERT INTO rejected_messages OVERRIDING SYSTEM VALUE
        SELECT id, workspace_id, source_id, received_at, endpoint, message_id, batch_index,
               raw_body, body_truncated, reasons, replayed_at
        FROM rejected_messages_unpartitioned
        """
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('rejected_messages', 'id'), "
        "COALESCE((SELECT max(id) FROM rejected_messages), 0) + 1, false)"
    )
    op.execute("DROP TABLE rejected_messages_unpartitioned")


def downgrade() -> None:
    op.execute("ALTER TABLE rejected_messages RENAME TO rejected_messages_partitioned")
    op.execute("ALTER INDEX pk_rejected_messages RENAME TO pk_rejected_messages_partitioned")
    op.execute(
        "ALTER INDEX ix_rejected_messages_received_at "
        "RENAME TO ix_rejected_messages_received_at_partitioned"
    )
    op.execute(
        "CREATE TABLE rejected_messages ("
        + _COLUMNS
        + "CONSTRAINT pk_rejected_messages PRIMARY KEY (id))"
    )
    op.execute(
        "INSERT INTO rejected_messages OVERRIDING SYSTEM VALUE "
        "SELECT * FROM rejected_messages_partitioned"
    )
    op.execute(
        "SELECT setval(pg_get_serial_sequence('rejected_messages', 'id'), "
        "COALESCE((SELECT max(id) FROM rejected_messages), 0) + 1, false)"
    )
    op.execute("DROP TABLE rejected_messages_partitioned")
    op.execute("CREATE INDEX ix_rejected_messages_received_at ON rejected_messages (received_at)")
    op.execute(
        "CREATE INDEX ix_rejected_messages_workspace_id_id ON rejected_messages (workspace_id, id)"
    )
    op.execute(
        "ALTER TABLE rejected_messages ADD CONSTRAINT fk_rejected_messages_workspace_id_workspaces "
        "FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE"
    )
    op.execute(
        "ALTER TABLE rejected_messages ADD CONSTRAINT fk_rejected_messages_source_id_sources "
        "FOREIGN KEY (source_id) REFERENCES sources (id) ON DELETE SET NULL"
    )
