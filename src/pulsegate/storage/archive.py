"""The archive: the log's days leave the database only once they are verified in object storage.

Each day of the log (`inbound_messages_pYYYYMMDD`) past the hot window is written as one
gzipped, newline-delimited JSON object per workspace and source, in the key layout of
Segment's S3 destination, so that Athena, Spark or DuckDB read it as they read Segment's:

    segment-logs/<source id>/<UTC midnight of the day, Unix ms>/<workspace id>.gz

Each line is the stored message (with its `receivedAt`, `timestamp`, `messageId`) plus a
`_pulsegate` object holding what a replay needs to apply it exactly as the log did: the log
id, the stored `receivedAt` and `timestamp` to the microsecond, and the soft-validation
warnings.

An object is written to a local file (in a read-only transaction that ends before any call to
the store), uploaded, then read back whole: its line count and SHA-256 must match what was
written, and only then is it recorded in `archived_objects`, the manifest. A day is dropped
(`DROP TABLE` of its partition) once every workspace and source of it is in the manifest with
the partition's own count, and the projector has applied all of it. Anything that fails (the
store down, wrong credentials, a mismatch, the projector behind) leaves the partition where
it is, records the error in `archive_days` (shown on `/admin/health`), and is tried again at
the next run; objects verified before the failure are not written again.

A workspace whose plan keeps its hot log longer (`workspaces.log_retention_days`) has its rows
of a dropped day moved into the log's default partition first; one whose plan keeps it shorter
has its days archived earlier and its rows of them deleted (pulsegate.storage.retention).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import tempfile
import uuid
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.storage import partitions
from pulsegate.storage.stores import ArchiveStore

log = structlog.get_logger(__name__)

LOG = partitions.INBOUND_MESSAGES
# Lines fetched from the database, and compressed, at a time.
FETCH = 5000


class ArchiveError(Exception):
    """An archive step that did not hold; the day stays in the database."""


@dataclass
class ArchiveResult:
    objects_written: int = 0
    messages_archived: int = 0
    days_dropped: int = 0
    workspaces_trimmed: int = 0
    days_failed: int = 0


def object_key(workspace_id: uuid.UUID, source_id: uuid.UUID, day: date) -> str:
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return f"segment-logs/{source_id}/{int(midnight.timestamp()) * 1000}/{workspace_id}.gz"


# A chunk of one workspace's and source's messages of a day, after a log id: a range of the
# partition's primary key (workspace_id, id, ...), each chunk a short transaction of its own.
_LINES = """
SELECT id, (message || jsonb_build_object('_pulsegate', jsonb_build_object(
           'id', id, 'receivedAt', received_at, 'timestamp', timestamp,
           'warnings', warnings)))::text AS line
FROM {partition}
WHERE workspace_id = %(w)s AND id > %(after)s AND source_id = %(s)s
ORDER BY id
LIMIT %(limit)s
"""


async def archive_day(
    engine: AsyncEngine,
    store: ArchiveStore,
    day: date,
    *,
    workspaces: Collection[uuid.UUID] | None = None,
    now: datetime,
) -> ArchiveResult:
    """Write and verify the objects of the day (of `workspaces` only, when given) that are not
    in the manifest yet; return what was written."""
    partition = partitions.partition_name(LOG.table, day)
    # Statistics first: a day that autovacuum has not analysed yet (it happens, a day being
    # written once) made the planner sort the whole day for every chunk.
    await partitions.analyze(engine, partition)
    async with engine.connect() as connection:
        groups = await _groups(connection, partition)
        done = await _manifest(connection, day)
    result = ArchiveResult()
    for (workspace_id, source_id), count in sorted(groups.items()):
        if workspaces is not None and workspace_id not in workspaces:
            continue
        if done.get((workspace_id, source_id)) == count:
            continue
        key = object_key(workspace_id, source_id, day)
        with tempfile.TemporaryDirectory(prefix="pulsegate-archive-") as scratch:
            path = Path(scratch) / "object.gz"
            written = await _write(engine, partition, workspace_id, source_id, path)
            digest, size = await asyncio.to_thread(file_digest, path)
            await asyncio.to_thread(store.put, key, path)
        await asyncio.to_thread(verify, store, key, messages=written, sha256=digest)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    """
                    INSERT INTO archived_objects
                        (workspace_id, source_id, day, key, messages, bytes, sha256, archived_at)
                    VALUES (:w, :s, :day, :key, :messages, :bytes, :sha256, :now)
                    ON CONFLICT (workspace_id, source_id, day) DO UPDATE SET
                        key = EXCLUDED.key, messages = EXCLUDED.messages,
                        bytes = EXCLUDED.bytes, sha256 = EXCLUDED.sha256,
                        archived_at = EXCLUDED.archived_at
                    """
                ),
                {
                    "w": workspace_id,
                    "s": source_id,
                    "day": day,
                    "key": key,
                    "messages": written,
                    "bytes": size,
                    "sha256": digest,
                    "now": now,
                },
            )
        result.objects_written += 1
        result.messages_archived += written
        log.info("archive.object.verified", key=key, messages=written, bytes=size)
    return result


async def _groups(
    connection: AsyncConnection, partition: str
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    rows = await connection.exec_driver_sql(
        f"SELECT workspace_id, source_id, count(*) AS n FROM {partition} GROUP BY 1, 2"
    )
    return {(row["workspace_id"], row["source_id"]): row["n"] for row in rows.mappings()}


async def _manifest(
    connection: AsyncConnection, day: date
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    rows = await connection.exec_driver_sql(
        "SELECT workspace_id, source_id, messages AS n FROM archived_objects WHERE day = %(day)s",
        {"day": day},
    )
    return {(row["workspace_id"], row["source_id"]): row["n"] for row in rows.mappings()}


async def _write(
    engine: AsyncEngine, partition: str, workspace_id: uuid.UUID, source_id: uuid.UUID, path: Path
) -> int:
    """The group's messages, in log order, gzipped into `path`; return how many. Read a chunk
    per transaction, none open while the file is written or the store called (a past day's
    partition no longer changes, and the drop counts it again under its lock)."""
    written = after = 0
    statement = _LINES.format(partition=partition)
    # mtime=0: the same messages give the same bytes, whenever they are archived.
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as out:
        while True:
            async with engine.connect() as connection:
                rows = (
                    await connection.exec_driver_sql(
                        statement,
                        {"w": workspace_id, "s": source_id, "after": after, "limit": FETCH},
                    )
                ).all()
            if not rows:
                return written
            chunk = "".join(f"{row.line}\n" for row in rows).encode()
            await asyncio.to_thread(out.write, chunk)
            written, after = written + len(rows), rows[-1].id


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with path.open("rb") as written:
        while chunk := written.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


def verify(store: ArchiveStore, key: str, *, messages: int, sha256: str) -> None:
    """Read the object back whole: its SHA-256 and its number of lines must be those written."""
    digest = hashlib.sha256()
    inflate = zlib.decompressobj(wbits=31)  # gzip
    lines = 0
    for chunk in store.read(key):
        digest.update(chunk)
        lines += inflate.decompress(chunk).count(b"\n")
    lines += inflate.flush().count(b"\n")
    if digest.hexdigest() != sha256 or lines != messages:
        raise ArchiveError(
            f"{key} does not read back as written: {lines} lines of {messages}, "
            f"sha256 {digest.hexdigest()[:12]} for {sha256[:12]}"
        )


def iter_lines(store: ArchiveStore, key: str) -> Iterator[bytes]:
    """The object's lines (one JSON message each), read and inflated a chunk at a time."""
    inflate = zlib.decompressobj(wbits=31)
    pending = b""
    for chunk in store.read(key):
        lines = (pending + inflate.decompress(chunk)).split(b"\n")
        pending = lines.pop()
        yield from lines
    rest = pending + inflate.flush()
    if rest:
        yield from rest.split(b"\n")


async def drop_day(
    engine: AsyncEngine, day: date, *, keep: dict[uuid.UUID, date], now: datetime
) -> None:
    """Drop the day's partition, once it holds exactly what the manifest says and the projector
    has applied all of it; the rows of the workspaces in `keep` (by the first day each keeps)
    go into the default partition first."""
    partition = partitions.partition_name(LOG.table, day)
    async with engine.begin() as connection:
        await partitions.lock(connection, LOG)
        # Nothing writes to a day past the hot window, but an erasure may delete from it: the
        # lock above and this count happen before the drop, in one transaction.
        groups = await _groups(connection, partition)
        archived = await _manifest(connection, day)
        changed = [group for group, count in groups.items() if archived.get(group) != count]
        if changed:
            # Written again (with the rows as they are now) by the next run.
            await connection.exec_driver_sql(
                "DELETE FROM archived_objects WHERE day = %(day)s AND (workspace_id, source_id) "
                "IN (SELECT * FROM unnest(%(w)s::uuid[], %(s)s::uuid[]))",
                {"day": day, "w": [w for w, _ in changed], "s": [s for _, s in changed]},
            )
            raise ArchiveError(f"{len(changed)} objects of {day} changed since they were archived")
        behind = await connection.exec_driver_sql(
            f"""
            SELECT count(*)
            FROM (SELECT workspace_id, max(id) AS last FROM {partition} GROUP BY 1) d
            LEFT JOIN projector_positions p USING (workspace_id)
            WHERE COALESCE(p.last_id, 0) < d.last
            """
        )
        if behind.scalar():
            raise ArchiveError(f"{day} is not fully projected yet")
        await connection.exec_driver_sql(f"ALTER TABLE {LOG.table} DETACH PARTITION {partition}")
        if keep:
            columns = await partitions.stored_columns(connection, LOG.table)
            await connection.exec_driver_sql(
                f"""
                INSERT INTO {LOG.table}_default ({columns}) OVERRIDING SYSTEM VALUE
                SELECT {columns} FROM {partition} m
                JOIN unnest(%(w)s::uuid[], %(since)s::date[]) AS k(w, since)
                  ON m.workspace_id = k.w AND %(day)s::date >= k.since
                """,
                {"w": list(keep), "since": list(keep.values()), "day": day},
            )
        await connection.exec_driver_sql(f"DROP TABLE {partition}")
        await connection.exec_driver_sql(
            """
            INSERT INTO archive_days (day, messages, objects, dropped_at)
            VALUES (%(day)s, %(messages)s, %(objects)s, %(now)s)
            ON CONFLICT (day) DO UPDATE SET messages = EXCLUDED.messages,
                objects = EXCLUDED.objects, dropped_at = EXCLUDED.dropped_at,
                last_error = NULL, last_error_at = NULL
            """,
            {"day": day, "messages": sum(groups.values()), "objects": len(groups), "now": now},
        )
    log.info("archive.day.dropped", day=day.isoformat(), messages=sum(groups.values()))


async def trim_workspace(engine: AsyncEngine, workspace_id: uuid.UUID, *, before: date) -> int:
    """Delete the workspace's archived messages received before `before` from the log (its plan
    keeps a shorter hot window than the partitions', or a longer one now past); only rows whose
    object is in the manifest go."""
    async with engine.begin() as connection:
        result = await connection.exec_driver_sql(
            f"""
            DELETE FROM {LOG.table} m
            WHERE m.workspace_id = %(w)s AND m.received_at < %(before)s
              AND EXISTS (
                SELECT 1 FROM archived_objects a
                WHERE a.workspace_id = m.workspace_id AND a.source_id = m.source_id
                  AND a.day = (m.received_at AT TIME ZONE 'UTC')::date)
            """,
            {"w": workspace_id, "before": partitions.bound(before)},
        )
    return result.rowcount


async def record_failure(engine: AsyncEngine, day: date, error: str, *, now: datetime) -> None:
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            """
            INSERT INTO archive_days (day, last_error, last_error_at)
            VALUES (%(day)s, %(error)s, %(now)s)
            ON CONFLICT (day) DO UPDATE SET last_error = EXCLUDED.last_error,
                last_error_at = EXCLUDED.last_error_at
            """,
            {"day": day, "error": error[:2000], "now": now},
        )


async def run(
    engine: AsyncEngine,
    store: ArchiveStore,
    *,
    today: date,
    hot_days: int,
    overrides: dict[uuid.UUID, int],
    now: datetime,
) -> ArchiveResult:
    """Archive, verify and drop every day of the log past the hot window (`hot_days`, or a
    workspace's own in `overrides`); a day that fails stays and the others go on."""
    cutoff = today - timedelta(days=hot_days)
    cutoffs = {w: today - timedelta(days=days) for w, days in overrides.items()}
    longer = {w: day for w, day in cutoffs.items() if day < cutoff}
    shorter = {w: day for w, day in cutoffs.items() if day > cutoff}
    total = ArchiveResult()
    async with engine.connect() as connection:
        days = await partitions.partition_days(connection, LOG.table)
    for day in days:
        due = None if day < cutoff else {w for w, until in shorter.items() if day < until}
        if due is not None and not due:
            continue
        try:
            done = await archive_day(engine, store, day, workspaces=due, now=now)
            if due is None:
                await drop_day(engine, day, keep=longer, now=now)
                total.days_dropped += 1
        except Exception as error:  # whatever failed, the day stays; the next run tries again
            log.warning("archive.day.failed", day=day.isoformat(), exc_info=True)
            await record_failure(engine, day, f"{type(error).__name__}: {error}", now=now)
            total.days_failed += 1
            continue
        total.objects_written += done.objects_written
        total.messages_archived += done.messages_archived
    # Shorter plans: their archived days out of the partitions that stay; longer plans: their
    # rows kept in the default partition, once past their own window.
    for workspace_id, until in {**shorter, **longer}.items():
        total.workspaces_trimmed += bool(await trim_workspace(engine, workspace_id, before=until))
    return total
