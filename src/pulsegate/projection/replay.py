"""Rebuilding a workspace's projections from its log (`pulsegate replay`).

A replay holds the workspace's projection lock for its whole run (a session-level advisory
lock, not a transaction), so live projection and the session sweep pass this workspace over
while every other workspace goes on. The work itself is many short transactions: the
projections are cleared a chunk at a time, vacuumed so that the rebuild reuses their space,
and rebuilt from the log in two passes (entities, then events attributed once). The cost is
linear in the messages, and the tables end about the size they began.

While it runs, reads of the workspace see its projections partly rebuilt. A replay that stops
halfway (killed, database gone) leaves them so until it is run again; `replay_kept` keeps the
values that are not in the log across such a stop.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.projection import repository
from pulsegate.projection.service import BATCH_SIZE, Part, apply_messages
from pulsegate.projection.watermark import settled_position

log = structlog.get_logger(__name__)

CLEAR_CHUNK = 20000

# Values that are not in the log: metrics posted through the API (`m` starts with "api:") and
# dimensions and metrics written by connector runs ("connector:"). They are kept, and the
# connectors' dimensions are merged back into the rebuilt accounts and users.
_KEEP = """
INSERT INTO replay_kept (workspace_id, object, entity_id, fields)
SELECT %(w)s, 'account', account_id, jsonb_object_agg(f.key, f.value)
FROM accounts, jsonb_each(fields) AS f
WHERE workspace_id = %(w)s AND f.value->>'m' LIKE 'connector:%%' GROUP BY account_id
UNION ALL
SELECT %(w)s, 'user', user_id, jsonb_object_agg(f.key, f.value)
FROM users, jsonb_each(fields) AS f
WHERE workspace_id = %(w)s AND f.value->>'m' LIKE 'connector:%%' GROUP BY user_id
ON CONFLICT DO NOTHING
"""
_RESTORE = (
    "UPDATE accounts a SET fields = pulsegate_merge_fields(a.fields, k.fields) "
    "FROM replay_kept k WHERE k.workspace_id = %(w)s AND k.object = 'account' "
    "AND a.workspace_id = %(w)s AND a.account_id = k.entity_id",
    "UPDATE users u SET fields = pulsegate_merge_fields(u.fields, k.fields) "
    "FROM replay_kept k WHERE k.workspace_id = %(w)s AND k.object = 'user' "
    "AND u.workspace_id = %(w)s AND u.user_id = k.entity_id",
    "DELETE FROM replay_kept WHERE workspace_id = %(w)s",
)
# Everything the projector derives from the log: table, and which of the workspace's rows.
_DERIVED = (
    ("events", "true"),
    ("sessions", "true"),
    ("session_dirty", "true"),
    ("accounts", "true"),
    ("users", "true"),
    ("identities", "true"),
    ("metric_values", "m NOT LIKE 'api:%%' AND m NOT LIKE 'connector:%%'"),
    ("projection_notes", "true"),
    ("projection_failures", "true"),
)
_CLEAR_CHUNK = """
DELETE FROM {table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table} WHERE workspace_id = %(w)s AND {rows} LIMIT %(chunk)s))
"""


async def replay_workspace(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, since: datetime | None = None
) -> int:
    """Apply the workspace's stored messages again; return how many.

    Without `since`, its projections are cleared first and rebuilt from the whole log: the
    result is what the projector produced, since every projection is order-independent. With
    `since`, messages received from then on are applied again over what is there (idempotent),
    for example after a projection fix.
    """
    async with engine.connect() as connection:
        await repository.lock_workspace_for_session(connection, workspace_id)
        await connection.commit()
        try:
            if since is not None:
                applied = await _reapply_since(connection, workspace_id, since)
            else:
                await _clear(connection, workspace_id)
                # Twice: index pages emptied by the clear are deleted by the first vacuum but
                # reusable only once a later one finds them (its own horizon protects them).
                await _maintain(engine, "VACUUM")
                await _maintain(engine, "VACUUM")
                applied = await _rebuild(connection, workspace_id)
                await _run(connection, _RESTORE, workspace_id)
                await _maintain(engine, "ANALYZE", rebuilt_only=True)
        finally:
            await repository.unlock_workspace_for_session(connection, workspace_id)
            await connection.commit()
    log.info("projection.replay.done", workspace_id=str(workspace_id), messages=applied)
    return applied


async def _run(connection: AsyncConnection, statements: tuple[str, ...], w: uuid.UUID) -> None:
    for statement in statements:
        await connection.exec_driver_sql(statement, {"w": w})
    await connection.commit()


async def _clear(connection: AsyncConnection, workspace_id: uuid.UUID) -> None:
    """Keep what is not in the log, then delete the derived rows a chunk per transaction,
    and start the workspace's position over."""
    await _run(connection, (_KEEP,), workspace_id)
    for table, rows in _DERIVED:
        statement = _CLEAR_CHUNK.format(table=table, rows=rows)
        while True:
            result = await connection.exec_driver_sql(
                statement, {"w": workspace_id, "chunk": CLEAR_CHUNK}
            )
            await connection.commit()
            if result.rowcount < CLEAR_CHUNK:
                break
    await repository.save_position(connection, workspace_id, 0)
    await connection.commit()


async def _maintain(engine: AsyncEngine, command: str, *, rebuilt_only: bool = False) -> None:
    """`VACUUM` after the clear makes the cleared rows' space reusable before the rebuild
    writes, so a replay does not grow the tables (vacuum skips pages with nothing dead: it
    costs about what was cleared, and a pass over each index). `ANALYZE` after the rebuild
    gives the planner the new rows' statistics (not `sessions`': the sweep rebuilds them
    later, and statistics taken while they are empty misled its plans)."""
    tables = ["events", "accounts", "users", "identities", "metric_values"]
    if not rebuilt_only:
        tables.append("sessions")
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await autocommit.exec_driver_sql(f"{command} {table}")


async def _rebuild(connection: AsyncConnection, workspace_id: uuid.UUID) -> int:
    """The log up to where it is final, in two passes of batches: accounts, users, identities
    and custom fields first, then the events, attributed against those final entities, so no
    event is written twice (live projection's restitch, in log order, rewrote about a third
    of them, and every rewrite added an entry to each index). Then the position moves there;
    the live projector takes the messages after it."""
    up_to = await settled_position(connection)
    applied = 0
    for part in (Part.ENTITIES, Part.EVENTS):
        applied = after = 0
        while messages := await repository.next_messages(
            connection, workspace_id, after=after, up_to=up_to, limit=BATCH_SIZE
        ):
            await apply_messages(connection, messages, part)
            await connection.commit()
            applied, after = applied + len(messages), messages[-1].id
    await repository.save_position(connection, workspace_id, up_to)
    await connection.commit()
    return applied


async def _reapply_since(
    connection: AsyncConnection, workspace_id: uuid.UUID, since: datetime
) -> int:
    """Messages received since `since`, up to the live position, applied again in batches;
    the position is not moved (later messages are the live projector's)."""
    up_to = await repository.read_position(connection, workspace_id)
    await connection.commit()
    applied, after = 0, 0
    while True:
        messages = await repository.next_messages(
            connection, workspace_id, after=after, up_to=up_to, limit=BATCH_SIZE, since=since
        )
        if not messages:
            return applied
        await apply_messages(connection, messages)
        await connection.commit()
        applied += len(messages)
        after = messages[-1].id
