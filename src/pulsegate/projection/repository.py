"""SQL of the projector: per-workspace positions and locks, reading the log, events.

Each workspace's log is applied in `id` order from its own position (`projector_positions`),
under a transaction-scoped advisory lock of that workspace, so any number of projector
workers share the workspaces: a worker that finds a workspace's lock taken moves on to the
next, and a worker that dies releases its locks with its connection. How far a worker may
read is the watermark (pulsegate.projection.watermark).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.errors import UniqueViolation
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.db.log_batch import IN_BATCH, LOG, batch_parameters, reading
from pulsegate.projection.attribution import resolve_sql

# The first key of the two-key advisory locks of workspaces' projection ("proj"); the second
# is a hash of the workspace id. A collision only makes two workspaces wait for each other.
PROJECTION_LOCK_CLASS = 0x70726F6A
_WORKSPACE_LOCK = "%(lock_class)s::int, hashtext(%(w)s::text)"


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    workspace_id: uuid.UUID
    type: str


async def try_lock_workspace(connection: AsyncConnection, workspace_id: uuid.UUID) -> bool:
    """Transaction-scoped: while a batch of the workspace is applied, or a sweep rebuilds its
    sessions, no one else does either."""
    result = await connection.exec_driver_sql(
        f"SELECT pg_try_advisory_xact_lock({_WORKSPACE_LOCK})",
        {"lock_class": PROJECTION_LOCK_CLASS, "w": workspace_id},
    )
    return bool(result.scalar())


async def lock_workspace_within(
    connection: AsyncConnection, workspace_id: uuid.UUID, *, wait: timedelta
) -> None:
    """Transaction-scoped, as `try_lock_workspace`, but waits up to `wait` for its holder: a
    projector's batch lets go within seconds, a replay holds it for minutes. When the wait runs
    out PostgreSQL raises `LockNotAvailable` and the transaction is aborted, so a caller takes
    it first, before it holds anything another holder could wait for."""
    milliseconds = max(1, round(wait / timedelta(milliseconds=1)))
    await connection.exec_driver_sql(
        "SELECT set_config('lock_timeout', %(ms)s, true)", {"ms": str(milliseconds)}
    )
    await connection.exec_driver_sql(
        f"SELECT pg_advisory_xact_lock({_WORKSPACE_LOCK})",
        {"lock_class": PROJECTION_LOCK_CLASS, "w": workspace_id},
    )
    await connection.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")


async def lock_workspace_for_session(connection: AsyncConnection, workspace_id: uuid.UUID) -> None:
    """Held by `pulsegate replay` across its many short transactions; waits for a batch in
    progress. Released by `unlock_workspace_for_session` or when the connection closes."""
    await connection.exec_driver_sql(
        f"SELECT pg_advisory_lock({_WORKSPACE_LOCK})",
        {"lock_class": PROJECTION_LOCK_CLASS, "w": workspace_id},
    )


async def unlock_workspace_for_session(
    connection: AsyncConnection, workspace_id: uuid.UUID
) -> None:
    await connection.exec_driver_sql(
        f"SELECT pg_advisory_unlock({_WORKSPACE_LOCK})",
        {"lock_class": PROJECTION_LOCK_CLASS, "w": workspace_id},
    )


async def log_sequence_value(connection: AsyncConnection) -> int:
    """The last id handed out for the log (0 before the first), whether committed or not."""
    result = await connection.exec_driver_sql(
        "SELECT COALESCE(pg_sequence_last_value("
        "pg_get_serial_sequence('inbound_messages', 'id')::regclass), 0)"
    )
    return int(result.scalar_one())


async def log_writers(connection: AsyncConnection) -> frozenset[str]:
    """The transactions that may be inserting into the log right now: those holding a lock
    on it that allows writing. Another database's transactions, readers (`pg_dump`, an
    analyst's query) and writers of other tables are not among them."""
    result = await connection.exec_driver_sql(
        """
        SELECT virtualtransaction FROM pg_locks
        WHERE locktype = 'relation' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND relation = 'inbound_messages'::regclass
          AND mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                       'AccessExclusiveLock')
          AND pid IS DISTINCT FROM pg_backend_pid()
        """
    )
    return frozenset(row[0] for row in result)


async def pending_workspaces(connection: AsyncConnection, up_to: int) -> list[uuid.UUID]:
    """Workspaces with messages past their position, up to the watermark: one probe of the
    log's primary key `(workspace_id, id)` per workspace."""
    result = await connection.exec_driver_sql(
        """
        SELECT w.id FROM workspaces w
        LEFT JOIN projector_positions p ON p.workspace_id = w.id
        CROSS JOIN LATERAL (
            SELECT m.id FROM inbound_messages m
            WHERE m.workspace_id = w.id AND m.id > COALESCE(p.last_id, 0)
            ORDER BY m.id LIMIT 1
        ) AS next
        WHERE next.id <= %(up_to)s
        """,
        {"up_to": up_to},
    )
    return [row[0] for row in result]


async def read_position(connection: AsyncConnection, workspace_id: uuid.UUID) -> int:
    result = await connection.exec_driver_sql(
        "SELECT last_id FROM projector_positions WHERE workspace_id = %s", (workspace_id,)
    )
    return int(result.scalar() or 0)


async def save_position(connection: AsyncConnection, workspace_id: uuid.UUID, last_id: int) -> None:
    await connection.exec_driver_sql(
        "INSERT INTO projector_positions (workspace_id, last_id, updated_at) "
        "VALUES (%s, %s, now()) ON CONFLICT (workspace_id) "
        "DO UPDATE SET last_id = EXCLUDED.last_id, updated_at = EXCLUDED.updated_at",
        (workspace_id, last_id),
    )


async def next_messages(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    *,
    after: int,
    up_to: int,
    limit: int,
    since: datetime | None = None,
    until: datetime | None = None,
    read_from: str = LOG,
) -> list[PendingMessage]:
    """The workspace's messages in log order after `after`, up to the watermark `up_to`
    (for a replay of a time range: only those received from `since` and before `until`),
    read from `read_from`."""
    statement = """
        SELECT m.id, m.workspace_id, m.type FROM inbound_messages m
        WHERE m.workspace_id = %(w)s AND m.id > %(after)s AND m.id <= %(up_to)s
          AND (%(since)s::timestamptz IS NULL OR m.received_at >= %(since)s::timestamptz)
          AND (%(until)s::timestamptz IS NULL OR m.received_at < %(until)s::timestamptz)
        ORDER BY m.id LIMIT %(limit)s
        """
    result = await connection.exec_driver_sql(
        reading(statement, read_from),
        {
            "w": workspace_id,
            "after": after,
            "up_to": up_to,
            "since": since,
            "until": until,
            "limit": limit,
        },
    )
    return [PendingMessage(row.id, row.workspace_id, row.type) for row in result.all()]


_INSERT_EVENTS = (
    """
WITH sent AS (
    SELECT m.id, m.workspace_id, m.message_id, m.type, m.timestamp,
           COALESCE(m.message->>'groupId', m.message->'context'->>'groupId') AS account_id,
           m.message->>'userId' AS user_id,
           m.message->>'anonymousId' AS anonymous_id,
           CASE WHEN m.type = 'track' THEN m.message->>'event'
                ELSE COALESCE(m.message->>'name', m.message->'properties'->>'name') END AS name,
           m.message->'properties'->>'module' AS module,
           COALESCE(m.message->>'category', m.message->'properties'->>'category') AS category,
           CASE WHEN jsonb_typeof(m.message->'properties') = 'object'
                THEN m.message->'properties' ELSE '{}'::jsonb END AS properties
    FROM inbound_messages m
    WHERE """
    + IN_BATCH
    + """ AND m.type IN ('track', 'page', 'screen')
),
inserted AS (
INSERT INTO events (workspace_id, message_id, type, timestamp, account_id, user_id,
                    anonymous_id, name, module, category, properties,
                    resolved_user_id, resolved_account_id)
SELECT sent.workspace_id, sent.message_id, sent.type, sent.timestamp, sent.account_id,
       sent.user_id, sent.anonymous_id, sent.name, sent.module, sent.category, sent.properties,
       resolved.user_id, resolved.account_id
FROM sent"""
    + resolve_sql(
        table="sent",
        own_user="sent.user_id",
        own_key="sent.anonymous_id",
        own_account="sent.account_id",
    )
    + """
ORDER BY sent.id  -- event ids follow the log, so events of one instant list in log order
RETURNING workspace_id, session_key, timestamp
)
-- A key queued at or before its new events is not written again (most of a batch's keys in a
-- live product; rewriting them was an eighth of this statement, bench/README.md). ON CONFLICT
-- still locks the row until commit, so a sweep's claim (FOR UPDATE SKIP LOCKED) cannot take
-- the key before these events are visible.
INSERT INTO session_dirty (workspace_id, session_key, since)
SELECT workspace_id, session_key, min(timestamp) FROM inserted
WHERE session_key IS NOT NULL
GROUP BY workspace_id, session_key
ON CONFLICT (workspace_id, session_key) DO UPDATE
SET since = EXCLUDED.since WHERE EXCLUDED.since < session_dirty.since
"""
)

# A batch's events are new but for a message stored twice in the log (sent again after the
# dedup window) or a batch projected again: the events are first inserted as if all were new
# (`_INSERT_EVENTS`), and only if the unique constraint refuses one does the statement that
# skips them run. ON CONFLICT checks each row before it inserts it and confirms the insert
# after: about a sixth of the statement (bench/README.md, "As if every message were new").
_INSERT_EVENTS_SKIPPING = _INSERT_EVENTS.replace(
    "\nRETURNING workspace_id, session_key, timestamp",
    "\nON CONFLICT (workspace_id, timestamp, message_id) DO NOTHING"
    "\nRETURNING workspace_id, session_key, timestamp",
)


async def project_events(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    message_ids: Sequence[int],
    *,
    read_from: str = LOG,
    whole: bool = False,
) -> None:
    """Events of track, page and screen calls, attributed as they are inserted (after the
    batch's identities and users are applied); a message already projected is skipped.

    The session key of every new event is queued for the session sweep with its earliest
    new event time, so the sweep rebuilds only the sessions that new events can change.
    """
    parameters = batch_parameters(workspace_id, message_ids, whole=whole)
    try:
        async with connection.begin_nested():
            await connection.exec_driver_sql(reading(_INSERT_EVENTS, read_from), parameters)
        return
    except IntegrityError as error:
        if not isinstance(error.orig, UniqueViolation):
            raise
    await connection.exec_driver_sql(reading(_INSERT_EVENTS_SKIPPING, read_from), parameters)


async def record_failure(connection: AsyncConnection, message: PendingMessage, error: str) -> None:
    await connection.exec_driver_sql(
        "INSERT INTO projection_failures (inbound_message_id, workspace_id, error, failed_at) "
        "VALUES (%s, %s, %s, now()) ON CONFLICT (workspace_id, inbound_message_id) "
        "DO UPDATE SET error = EXCLUDED.error, failed_at = EXCLUDED.failed_at",
        (message.id, message.workspace_id, error[:2000]),
    )
