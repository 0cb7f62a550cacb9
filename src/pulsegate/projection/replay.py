"""Rebuilding a workspace's projections from its log and its archive (`pulsegate replay`).

The messages are read in order: first the days in the archive (those whose messages are no
longer in the hot log), a day at a time brought back into `restored_messages` and applied by
the projector's own statements, then the hot log. A replay rebuilds projections only: no
message is forwarded to a destination again.

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

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.db.log_batch import LOG, RESTORED
from pulsegate.projection import repository
from pulsegate.projection.service import BATCH_SIZE, Part, apply_messages
from pulsegate.projection.watermark import settled_position
from pulsegate.storage import partitions
from pulsegate.storage.archive import ArchiveError, iter_lines
from pulsegate.storage.stores import ArchiveStore

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
# A chunk of a table's rows by ctid, one table at a time: a partitioned table (events) is
# cleared partition by partition, since a ctid names a row of one partition (and a delete by
# key through the parent was a hash join over every partition for each chunk).
_CLEAR_CHUNK = """
DELETE FROM {table} WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM {table} WHERE workspace_id = %(w)s AND {rows} LIMIT %(chunk)s))
"""


async def replay_workspace(
    engine: AsyncEngine,
    workspace_id: uuid.UUID,
    *,
    store: ArchiveStore | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Apply the workspace's stored messages again, from the archive in `store` (when given)
    and then the hot log; return how many.

    Without a time range, its projections are cleared first and rebuilt from every message:
    the result is what the projector produced, since every projection is order-independent.
    With `since` and/or `until`, the messages received in that range are applied again over
    what is there (idempotent), for example after a projection fix.
    """
    async with engine.connect() as connection:
        await repository.lock_workspace_for_session(connection, workspace_id)
        await connection.commit()
        try:
            await _unrestore(connection, workspace_id)  # what a replay that stopped left
            days = await _archived_days(connection, workspace_id, since, until) if store else []
            if since is not None or until is not None:
                applied = await _reapply(connection, workspace_id, store, days, since, until)
            else:
                await _clear(connection, workspace_id)
                # Twice: index pages emptied by the clear are deleted by the first vacuum but
                # reusable only once a later one finds them (its own horizon protects them).
                await _maintain(engine, "VACUUM")
                await _maintain(engine, "VACUUM")
                applied = await _rebuild(connection, workspace_id, store, days)
                await _run(connection, _RESTORE, workspace_id)
                await _maintain(engine, "ANALYZE", rebuilt_only=True)
        finally:
            await connection.rollback()  # of a statement that failed, if one did
            await repository.unlock_workspace_for_session(connection, workspace_id)
            await connection.commit()
    log.info(
        "projection.replay.done",
        workspace_id=str(workspace_id),
        messages=applied,
        archived_days=len(days),
    )
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
        for leaf in await _leaves(connection, table):
            await _clear_table(connection, workspace_id, leaf, rows)
    await repository.save_position(connection, workspace_id, 0)
    await connection.commit()


async def _leaves(connection: AsyncConnection, table: str) -> list[str]:
    """The table itself, or a partitioned table's partitions."""
    result = await connection.exec_driver_sql(
        "SELECT relid::regclass::text FROM pg_partition_tree(%(t)s) WHERE isleaf", {"t": table}
    )
    await connection.commit()
    return [name for (name,) in result.all()] or [table]


async def _clear_table(
    connection: AsyncConnection, workspace_id: uuid.UUID, table: str, rows: str
) -> None:
    statement = _CLEAR_CHUNK.format(table=table, rows=rows)
    while True:
        result = await connection.exec_driver_sql(
            statement, {"w": workspace_id, "chunk": CLEAR_CHUNK}
        )
        await connection.commit()
        if result.rowcount < CLEAR_CHUNK:
            return


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


async def _rebuild(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    store: ArchiveStore | None,
    days: list[ArchivedDay],
) -> int:
    """Every message in two passes of batches, each over the archive and then the log:
    accounts, users, identities and custom fields first, then the events, attributed against
    those final entities, so no event is written twice (live projection's restitch, in log
    order, rewrote about a third of them, and every rewrite added an entry to each index).
    Then the position moves to where the log is final; the live projector takes the messages
    after it."""
    up_to = await settled_position(connection)
    applied = 0
    for part in (Part.ENTITIES, Part.EVENTS):
        applied = 0
        async with _unprepared(connection):
            for day in days:
                assert store is not None
                await _restore(connection, store, workspace_id, day)
                applied += await _apply(connection, workspace_id, part, read_from=RESTORED)
                await _unrestore(connection, workspace_id)
        applied += await _apply(connection, workspace_id, part, up_to=up_to)
    await repository.save_position(connection, workspace_id, up_to)
    await connection.commit()
    return applied


async def _reapply(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    store: ArchiveStore | None,
    days: list[ArchivedDay],
    since: datetime | None,
    until: datetime | None,
) -> int:
    """Messages received in the range, from the archive and then the log up to the live
    position, applied again; the position is not moved (later messages are the live
    projector's)."""
    applied = 0
    async with _unprepared(connection):
        for day in days:
            assert store is not None
            await _restore(connection, store, workspace_id, day)
            applied += await _apply(
                connection, workspace_id, Part.ALL, read_from=RESTORED, since=since, until=until
            )
            await _unrestore(connection, workspace_id)
    up_to = await repository.read_position(connection, workspace_id)
    await connection.commit()
    return applied + await _apply(
        connection, workspace_id, Part.ALL, up_to=up_to, since=since, until=until
    )


@contextlib.asynccontextmanager
async def _unprepared(connection: AsyncConnection) -> AsyncIterator[None]:
    """Statements planned for each batch, never prepared, while restored days are applied:
    psycopg prepares a statement run five times, and the server's generic plan for it, made
    on one restored day's statistics, cost the next days three to five times the time
    (bench/README.md). The log's own batches keep their prepared statements."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection has its psycopg connection
    threshold = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = threshold


async def _apply(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    part: Part,
    *,
    read_from: str = LOG,
    up_to: int = 2**63 - 1,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """The messages of `read_from` up to `up_to`, in id order, a batch per transaction."""
    applied = after = 0
    while messages := await repository.next_messages(
        connection,
        workspace_id,
        after=after,
        up_to=up_to,
        limit=BATCH_SIZE,
        since=since,
        until=until,
        read_from=read_from,
    ):
        # A time range leaves out messages of a batch's id range: only then is it not whole.
        whole = since is None and until is None
        await apply_messages(
            connection, messages, part, read_from=read_from, deliver=False, whole=whole
        )
        await connection.commit()
        applied, after = applied + len(messages), messages[-1].id
    return applied


@dataclass(frozen=True, slots=True)
class ArchivedDay:
    """A day of the workspace's messages that is in the archive and no longer in the log."""

    day: date
    objects: list[tuple[uuid.UUID, str, int]]  # (source, key, messages)


async def _archived_days(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    since: datetime | None,
    until: datetime | None,
) -> list[ArchivedDay]:
    """Oldest first; a day still in the hot log (kept longer for the workspace's plan, or not
    dropped yet) is read from there instead."""
    result = await connection.exec_driver_sql(
        """
        SELECT a.day, a.source_id, a.key, a.messages FROM archived_objects a
        WHERE a.workspace_id = %(w)s
          AND (%(since)s::timestamptz IS NULL
               OR a.day >= (%(since)s::timestamptz AT TIME ZONE 'UTC')::date)
          AND (%(until)s::timestamptz IS NULL
               OR a.day <= (%(until)s::timestamptz AT TIME ZONE 'UTC')::date)
          AND NOT EXISTS (
            SELECT 1 FROM inbound_messages m
            WHERE m.workspace_id = a.workspace_id
              AND m.received_at >= a.day::timestamp AT TIME ZONE 'UTC'
              AND m.received_at < (a.day + 1)::timestamp AT TIME ZONE 'UTC')
        ORDER BY a.day, a.source_id
        """,
        {"w": workspace_id, "since": since, "until": until},
    )
    rows = result.all()
    await connection.commit()
    return [
        ArchivedDay(day, [(row.source_id, row.key, row.messages) for row in group])
        for day, group in itertools.groupby(rows, key=lambda row: row.day)
    ]


_RESTORE_LINES = """
INSERT INTO restored_messages
    (id, workspace_id, source_id, message_id, type, received_at, timestamp, message, warnings)
SELECT (l->'_pulsegate'->>'id')::bigint, %(w)s, %(s)s, l->>'messageId', l->>'type',
       (l->'_pulsegate'->>'receivedAt')::timestamptz, (l->'_pulsegate'->>'timestamp')::timestamptz,
       l - '_pulsegate', NULLIF(l->'_pulsegate'->'warnings', 'null'::jsonb)
FROM jsonb_array_elements(%(lines)s::jsonb) AS l
ON CONFLICT DO NOTHING
"""


async def _restore(
    connection: AsyncConnection, store: ArchiveStore, workspace_id: uuid.UUID, day: ArchivedDay
) -> None:
    """The day's archived objects into `restored_messages`, read from the store a chunk at a
    time outside any transaction; each must hold the messages its manifest entry counts."""
    for source_id, key, messages in day.objects:
        lines = iter_lines(store, key)
        restored = 0
        while chunk := await asyncio.to_thread(_take, lines, BATCH_SIZE):
            result = await connection.exec_driver_sql(
                _RESTORE_LINES,
                {"w": workspace_id, "s": source_id, "lines": "[" + b",".join(chunk).decode() + "]"},
            )
            await connection.commit()
            restored += result.rowcount
        if restored != messages:
            raise ArchiveError(f"{key} holds {restored} messages, its manifest {messages}")
    # Filled and emptied a day at a time: fresh statistics, or the planner reads each batch by
    # sorting the whole day.
    await partitions.analyze(connection.engine, RESTORED)


def _take(lines: Iterator[bytes], n: int) -> list[bytes]:
    return list(itertools.islice(lines, n))


async def _unrestore(connection: AsyncConnection, workspace_id: uuid.UUID) -> None:
    await connection.exec_driver_sql(
        "DELETE FROM restored_messages WHERE workspace_id = %(w)s", {"w": workspace_id}
    )
    await connection.commit()
    # The next day reuses the space, and its index scans do not wade through this one's rows.
    await partitions.analyze(connection.engine, RESTORED, vacuum=True)
