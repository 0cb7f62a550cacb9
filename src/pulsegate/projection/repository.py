"""SQL of the projector.

Reading order. `inbound_messages.id` is not commit order: flushes overlap, and every replica
has its own writer, so a row with a lower id can commit after one with a higher id. A reader
that followed `id` and moved its watermark past a gap would skip the late row for ever.
Each row therefore records its inserting transaction (`txid`), and the projector reads in
`(txid, id)` order, only rows whose transaction is older than every transaction still running
(`pg_snapshot_xmin`). All such transactions have ended, so no row can later appear behind
the watermark. The cost: one long-running transaction anywhere holds the projector back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

PROJECTOR = "main"


@dataclass(frozen=True, slots=True)
class LogPosition:
    txid: int
    id: int


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: int
    txid: int
    workspace_id: uuid.UUID


async def try_lock(connection: AsyncConnection, lock_id: int) -> bool:
    """Transaction-scoped: one replica projects at a time; the others find it taken."""
    result = await connection.exec_driver_sql("SELECT pg_try_advisory_xact_lock(%s)", (lock_id,))
    return bool(result.scalar())


async def read_position(connection: AsyncConnection) -> LogPosition:
    await connection.exec_driver_sql(
        "INSERT INTO projector_state (name, last_txid, last_id, updated_at) "
        "VALUES (%s, 0, 0, now()) ON CONFLICT (name) DO NOTHING",
        (PROJECTOR,),
    )
    result = await connection.exec_driver_sql(
        "SELECT last_txid, last_id FROM projector_state WHERE name = %s FOR UPDATE",
        (PROJECTOR,),
    )
    row = result.one()
    return LogPosition(txid=row.last_txid, id=row.last_id)


async def save_position(connection: AsyncConnection, position: LogPosition) -> None:
    await connection.exec_driver_sql(
        "UPDATE projector_state SET last_txid = %s, last_id = %s, updated_at = now() "
        "WHERE name = %s",
        (position.txid, position.id, PROJECTOR),
    )


async def next_messages(
    connection: AsyncConnection, after: LogPosition, limit: int
) -> list[PendingMessage]:
    result = await connection.exec_driver_sql(
        """
        SELECT id, txid, workspace_id FROM inbound_messages
        WHERE (txid, id) > (%(txid)s, %(id)s)
          AND txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
        ORDER BY txid, id
        LIMIT %(limit)s
        """,
        {"txid": after.txid, "id": after.id, "limit": limit},
    )
    return [
        PendingMessage(id=row.id, txid=row.txid, workspace_id=row.workspace_id)
        for row in result.all()
    ]


async def workspace_messages(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    *,
    after: LogPosition,
    since: datetime | None,
    limit: int,
) -> list[PendingMessage]:
    """A workspace's stored messages in log order, for replay (received since `since`)."""
    result = await connection.exec_driver_sql(
        """
        SELECT id, txid, workspace_id FROM inbound_messages
        WHERE workspace_id = %(w)s AND (txid, id) > (%(txid)s, %(id)s)
          AND (%(since)s::timestamptz IS NULL OR received_at >= %(since)s::timestamptz)
        ORDER BY txid, id LIMIT %(limit)s
        """,
        {"w": workspace_id, "txid": after.txid, "id": after.id, "since": since, "limit": limit},
    )
    return [
        PendingMessage(id=row.id, txid=row.txid, workspace_id=row.workspace_id)
        for row in result.all()
    ]


_INSERT_EVENTS = """
WITH inserted AS (
INSERT INTO events (workspace_id, message_id, type, timestamp, account_id, user_id,
                    anonymous_id, name, module, category, properties)
SELECT m.workspace_id, m.message_id, m.type, m.timestamp,
       COALESCE(m.message->>'groupId', m.message->'context'->>'groupId'),
       m.message->>'userId',
       m.message->>'anonymousId',
       CASE WHEN m.type = 'track' THEN m.message->>'event'
            ELSE COALESCE(m.message->>'name', m.message->'properties'->>'name') END,
       m.message->'properties'->>'module',
       COALESCE(m.message->>'category', m.message->'properties'->>'category'),
       CASE WHEN jsonb_typeof(m.message->'properties') = 'object'
            THEN m.message->'properties' ELSE '{}'::jsonb END
FROM inbound_messages m
WHERE m.id = ANY(%(ids)s) AND m.type IN ('track', 'page', 'screen')
ORDER BY m.id  -- event ids follow the log, so events of one instant list in log order
ON CONFLICT (workspace_id, message_id) DO NOTHING
RETURNING workspace_id, session_key, timestamp
)
INSERT INTO session_dirty (workspace_id, session_key, since)
SELECT workspace_id, session_key, min(timestamp) FROM inserted
WHERE session_key IS NOT NULL
GROUP BY workspace_id, session_key
ON CONFLICT (workspace_id, session_key) DO UPDATE
SET since = LEAST(session_dirty.since, EXCLUDED.since)
"""


async def project_events(connection: AsyncConnection, message_ids: Sequence[int]) -> None:
    """Events of track, page and screen calls; a message already projected is skipped.

    The session key of every new event is queued for the session sweep with its earliest
    new event time, so the sweep rebuilds only the sessions that new events can change.
    """
    await connection.exec_driver_sql(_INSERT_EVENTS, {"ids": list(message_ids)})


async def record_failure(connection: AsyncConnection, message: PendingMessage, error: str) -> None:
    await connection.exec_driver_sql(
        "INSERT INTO projection_failures (inbound_message_id, workspace_id, error, failed_at) "
        "VALUES (%s, %s, %s, now()) ON CONFLICT (inbound_message_id) "
        "DO UPDATE SET error = EXCLUDED.error, failed_at = EXCLUDED.failed_at",
        (message.id, message.workspace_id, error[:2000]),
    )
