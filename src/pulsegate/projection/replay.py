"""Rebuilding a workspace's projections from its log (`pulsegate replay`)."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.projection import repository
from pulsegate.projection.repository import LogPosition
from pulsegate.projection.service import PROJECTOR_LOCK_ID, apply_messages

log = structlog.get_logger(__name__)

BATCH = 1000

# Values that are not in the log: metrics posted through the API (`m` starts with "api:") and
# dimensions and metrics written by connector runs ("connector:"). They are kept, and the
# connectors' dimensions are merged back into the rebuilt accounts and users.
_KEEP = """
CREATE TEMPORARY TABLE replay_kept ON COMMIT DROP AS
SELECT 'accounts' AS tbl, account_id AS entity, fields AS kept FROM (
    SELECT account_id, jsonb_object_agg(f.key, f.value) AS fields
    FROM accounts, jsonb_each(fields) AS f
    WHERE workspace_id = %(w)s AND f.value->>'m' LIKE 'connector:%%' GROUP BY account_id) a
UNION ALL
SELECT 'users', user_id, fields FROM (
    SELECT user_id, jsonb_object_agg(f.key, f.value) AS fields
    FROM users, jsonb_each(fields) AS f
    WHERE workspace_id = %(w)s AND f.value->>'m' LIKE 'connector:%%' GROUP BY user_id) u
"""
_RESTORE = (
    "UPDATE accounts a SET fields = pulsegate_merge_fields(a.fields, k.kept) FROM replay_kept k "
    "WHERE k.tbl = 'accounts' AND a.workspace_id = %(w)s AND a.account_id = k.entity",
    "UPDATE users u SET fields = pulsegate_merge_fields(u.fields, k.kept) FROM replay_kept k "
    "WHERE k.tbl = 'users' AND u.workspace_id = %(w)s AND u.user_id = k.entity",
)
# Everything the projector derives from the log.
_CLEAR = (
    "DELETE FROM events WHERE workspace_id = %(w)s",
    "DELETE FROM sessions WHERE workspace_id = %(w)s",
    "DELETE FROM session_dirty WHERE workspace_id = %(w)s",
    "DELETE FROM accounts WHERE workspace_id = %(w)s",
    "DELETE FROM users WHERE workspace_id = %(w)s",
    "DELETE FROM identities WHERE workspace_id = %(w)s",
    "DELETE FROM metric_values WHERE workspace_id = %(w)s AND m NOT LIKE 'api:%%' "
    "AND m NOT LIKE 'connector:%%'",
    "DELETE FROM projection_notes WHERE workspace_id = %(w)s",
    "DELETE FROM projection_failures WHERE workspace_id = %(w)s",
)


async def replay_workspace(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, since: datetime | None = None
) -> int:
    """Apply the workspace's stored messages again; return how many.

    Without `since`, its projections are cleared first and rebuilt from the whole log: the
    result is what the projector produced, since every projection is order-independent. With
    `since`, messages received from then on are applied again over what is there (idempotent),
    for example after a projection fix. It runs in one transaction holding the projector's
    lock, so the live projector waits and readers see the old state until it commits.
    """
    async with engine.begin() as connection:
        await connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (PROJECTOR_LOCK_ID,))
        if since is not None:
            return await _apply_log(connection, workspace_id, since)
        await connection.exec_driver_sql(_KEEP, {"w": workspace_id})
        for statement in _CLEAR:
            await connection.exec_driver_sql(statement, {"w": workspace_id})
        applied = await _apply_log(connection, workspace_id, since)
        for statement in _RESTORE:
            await connection.exec_driver_sql(statement, {"w": workspace_id})
        return applied


async def _apply_log(
    connection: AsyncConnection, workspace_id: uuid.UUID, since: datetime | None
) -> int:
    applied, after = 0, LogPosition(txid=-1, id=-1)
    while True:
        messages = await repository.workspace_messages(
            connection, workspace_id, after=after, since=since, limit=BATCH
        )
        if not messages:
            log.info("projection.replay.done", workspace_id=str(workspace_id), messages=applied)
            return applied
        await apply_messages(connection, messages)
        applied += len(messages)
        after = LogPosition(txid=messages[-1].txid, id=messages[-1].id)
