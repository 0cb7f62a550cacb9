"""Time partitions for the tables that grow with traffic: a partition a day (or a week, or a
month), dropped whole.

A time-partitioned table is range-partitioned on one timestamp column in UTC days; its
partitions are named `<table>_pYYYYMMDD` after their first day, and a `<table>_default`
partition catches a row for a day that has no partition yet (the maintenance job never ran,
a clock far off), so a write never fails for want of one. Storage maintenance (the daily
`retention` job, and every start of the server) creates the partitions of the days ahead,
moves any row that waited in the default partition into its day's partition, and drops the
partitions wholly past their retention: `DROP TABLE` of a day, never a `DELETE` of rows, so
the table's size follows its retention whatever the traffic, without bloat.

Which tables are partitioned so far: `rejected_messages` (migration 0019), `deliveries`
(0020), and the log with its dedup window (`inbound_messages`, `message_ids`: 0021). The log's
days are dropped by the archive once they are verified there (pulsegate.storage.archive); the
retention of each table, and each workspace's own, is pulsegate.storage.retention's.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Partitions exist this many days ahead of today, so a stopped maintenance job has a week of
# grace before rows wait in the default partition.
DAYS_AHEAD = 7


@dataclass(frozen=True, slots=True)
class TimePartitioned:
    table: str
    column: str  # the timestamp it is partitioned on
    # Rows that outlive their day's retention (SQL over the table's columns): moved into the
    # default partition before their day is dropped, and kept there.
    kept: str | None = None
    # Columns unique within a partition (each partition's own unique index, not the table's).
    unique_in_partition: tuple[str, ...] = ()
    # What a partition holds: a "day", a "week" from Monday, or a calendar "month".
    span: str = "day"
    # Its days leave through the archive (pulsegate.storage.archive), which drops them once
    # verified there: maintenance only makes them.
    archived: bool = False

    def start_of(self, day: date) -> date:
        """The first day of the partition that holds `day`."""
        if self.span == "week":
            return day - timedelta(days=day.weekday())
        if self.span == "month":
            return day.replace(day=1)
        return day

    def end_of(self, start: date) -> date:
        """The first day after the partition that starts on `start`."""
        if self.span == "week":
            return start + timedelta(days=7)
        if self.span == "month":
            return (start + timedelta(days=32)).replace(day=1)
        return start + timedelta(days=1)


REJECTED_MESSAGES = TimePartitioned("rejected_messages", "received_at")
# The log: a day goes only once it is archived.
INBOUND_MESSAGES = TimePartitioned("inbound_messages", "received_at", archived=True)
# The dedup window: each message's id in the week it was stored, unique within the week; the
# writer looks into the week before as well (pulsegate.ingest.repository): two index probes
# per message catch every duplicate of the last 7 days (and some older), where a partition a
# day cost eight.
MESSAGE_IDS = TimePartitioned(
    "message_ids", "received_at", unique_in_partition=("workspace_id", "message_id"), span="week"
)
# Sent and skipped deliveries go with their day; pending, dead and rejected ones stay until
# someone retries or reads them (a pending one is at most `retry_hours`, a week, old).
DELIVERIES = TimePartitioned("deliveries", "received_at", kept="status NOT IN ('sent', 'skipped')")
# Events by the month of their timestamp: kept 13 months, so a month is the unit that leaves.
# A timestamp far in the past or future (a device's clock) lands in the default partition.
EVENTS = TimePartitioned("events", "timestamp", span="month")
PARTITIONED = (INBOUND_MESSAGES, MESSAGE_IDS, REJECTED_MESSAGES, DELIVERIES, EVENTS)

_DAY = re.compile(r"_p(\d{8})$")


def is_partition(name: str) -> bool:
    """Whether a table is a partition of a time-partitioned table (not in the models)."""
    return any(
        name == f"{spec.table}_default" or re.fullmatch(rf"{spec.table}_p\d{{8}}", name)
        for spec in PARTITIONED
    )


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def bound(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat()


async def partition_days(connection: AsyncConnection, table: str) -> list[date]:
    """The first days of the table's partitions, oldest first."""
    result = await connection.exec_driver_sql(
        """
        SELECT c.relname FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = %(table)s::regclass
        """,
        {"table": table},
    )
    days = []
    for (name,) in result:
        found = _DAY.search(name)
        if found:
            days.append(date.fromisoformat(found.group(1)))
    return sorted(days)


async def create_partition(connection: AsyncConnection, spec: TimePartitioned, day: date) -> bool:
    """The partition holding `day`, made if missing (False if it was there). Rows of its days
    that waited in the default partition move into it before it is attached."""
    start = spec.start_of(day)
    name = partition_name(spec.table, start)
    exists = await connection.exec_driver_sql("SELECT to_regclass(%(name)s)", {"name": name})
    if exists.scalar() is not None:
        return False
    low, high = bound(start), bound(spec.end_of(start))
    table, column = spec.table, spec.column
    await connection.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        "INCLUDING GENERATED)"
    )
    if spec.unique_in_partition:
        columns = ", ".join(spec.unique_in_partition)
        await connection.exec_driver_sql(f"CREATE UNIQUE INDEX {name}_unique ON {name} ({columns})")
    # Ids are kept as they are (since PostgreSQL 17 a partition has its table's identity).
    columns = await stored_columns(connection, table)
    await connection.exec_driver_sql(
        f"""
        WITH moved AS (
            DELETE FROM {table}_default WHERE {column} >= '{low}' AND {column} < '{high}'
            RETURNING {columns}
        )
        INSERT INTO {name} ({columns}) OVERRIDING SYSTEM VALUE SELECT {columns} FROM moved
        """
    )
    await connection.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')"
    )
    return True


async def stored_columns(connection: AsyncConnection, table: str) -> str:
    """The table's columns that a row copy writes (generated ones are computed again)."""
    result = await connection.exec_driver_sql(
        "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute "
        "WHERE attrelid = %(table)s::regclass AND attnum > 0 AND NOT attisdropped "
        "AND attgenerated = ''",
        {"table": table},
    )
    return str(result.scalar())


async def create_ahead(
    connection: AsyncConnection, spec: TimePartitioned, *, today: date, days: int = DAYS_AHEAD
) -> int:
    """Partitions for today and the `days` after it; return how many were made."""
    made = 0
    for offset in range(days + 1):
        made += await create_partition(connection, spec, today + timedelta(days=offset))
    return made


async def drop_before(
    connection: AsyncConnection,
    spec: TimePartitioned,
    *,
    day: date,
    keep: dict[uuid.UUID, date] | None = None,
) -> int:
    """Drop the partitions wholly before `day`, after moving their `kept` rows, and the rows of
    the workspaces in `keep` from the first day each keeps, into the default partition; return
    how many."""
    dropped = 0
    keep = keep or {}
    for old in await partition_days(connection, spec.table):
        if spec.end_of(old) > day:
            continue
        name = partition_name(spec.table, old)
        kept = [f"({spec.kept})"] if spec.kept is not None else []
        if keep:
            kept.append(
                "EXISTS (SELECT 1 FROM unnest(%(w)s::uuid[], %(since)s::timestamptz[])"
                f" AS k(w, since) WHERE k.w = workspace_id AND {spec.column} >= k.since)"
            )
        if kept:
            # Detached first: the default partition may not hold a day that has a partition.
            await connection.exec_driver_sql(f"ALTER TABLE {spec.table} DETACH PARTITION {name}")
            columns = await stored_columns(connection, spec.table)
            await connection.exec_driver_sql(
                f"INSERT INTO {spec.table}_default ({columns}) OVERRIDING SYSTEM VALUE "
                f"SELECT {columns} FROM {name} WHERE {' OR '.join(kept)}",
                {"w": list(keep), "since": [bound(since) for since in keep.values()]},
            )
        await connection.exec_driver_sql(f"DROP TABLE {name}")
        dropped += 1
    return dropped


async def trim(
    connection: AsyncConnection, spec: TimePartitioned, workspace_id: uuid.UUID, *, before: date
) -> int:
    """Delete one workspace's rows of the days before `before` (but not the table's `kept`
    ones): its plan keeps less than the partitions do, or it kept more in the default
    partition and that is now past too. One workspace's rows of a day, through the table's
    workspace-first key: never the bulk delete a drop avoids."""
    result = await connection.exec_driver_sql(
        f"DELETE FROM {spec.table} WHERE workspace_id = %(w)s AND {spec.column} < %(before)s"
        + (f" AND NOT ({spec.kept})" if spec.kept is not None else ""),
        {"w": workspace_id, "before": bound(before)},
    )
    return result.rowcount


async def adopt_waiting(
    connection: AsyncConnection, spec: TimePartitioned, *, oldest_kept: date
) -> int:
    """Make the partitions of the days from `oldest_kept` on whose rows wait in the default
    partition (each is moved into its day's partition as it is made); return how many were
    made. Older rows there are the `kept` ones of days already dropped: they stay."""
    result = await connection.exec_driver_sql(
        f"SELECT DISTINCT ({spec.column} AT TIME ZONE 'UTC')::date FROM {spec.table}_default "
        f"WHERE {spec.column} >= %(oldest)s",
        {"oldest": bound(oldest_kept)},
    )
    made = 0
    for (day,) in result.all():
        made += await create_partition(connection, spec, day)
    return made


async def maintain(
    engine: AsyncEngine,
    *,
    today: date,
    retention_days: dict[str, int | None],
    overrides: dict[str, dict[uuid.UUID, int]] | None = None,
) -> dict[str, dict[str, int]]:
    """Storage maintenance of every time-partitioned table, each in a transaction of its own:
    partitions for the days ahead, those of rows waiting in the default partition, and the
    drop of the days past the table's retention (`retention_days` by table; None: keep),
    except for the log, whose days the archive drops. `overrides` gives, by table, the
    workspaces whose plan keeps another number of days: longer, their rows of a dropped day
    move into the default partition; shorter, their rows past it are deleted."""
    done = {}
    for spec in PARTITIONED:
        days = retention_days[spec.table]
        oldest_kept = today - timedelta(days=days) if days is not None else date.min
        plans = {
            w: today - timedelta(days=n) for w, n in (overrides or {}).get(spec.table, {}).items()
        }
        async with engine.begin() as connection:
            await lock(connection, spec)
            made = await create_ahead(connection, spec, today=today)
            made += await adopt_waiting(connection, spec, oldest_kept=oldest_kept)
            dropped = trimmed = 0
            if not spec.archived:
                keep = {w: since for w, since in plans.items() if since < oldest_kept}
                dropped = await drop_before(connection, spec, day=oldest_kept, keep=keep)
                for workspace_id, since in plans.items():
                    trimmed += await trim(connection, spec, workspace_id, before=since)
        done[spec.table] = {
            "partitions_made": made,
            "partitions_dropped": dropped,
            "rows_trimmed": trimmed,
        }
    return done


async def prepare(engine: AsyncEngine, *, today: date) -> None:
    """At start: the partitions of the days ahead, so that a server that was stopped past them
    does not route a day's rows into the default partition."""
    for spec in PARTITIONED:
        async with engine.begin() as connection:
            await lock(connection, spec)
            await create_ahead(connection, spec, today=today)


async def analyze(engine: AsyncEngine, table: str, *, vacuum: bool = False) -> None:
    """`ANALYZE` (or `VACUUM (ANALYZE)`) of one table, outside any transaction."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {table}")


async def lock(connection: AsyncConnection, spec: TimePartitioned) -> None:
    """Replicas starting together, or the job beside a start, change partitions one at a time."""
    await connection.exec_driver_sql(
        "SELECT pg_advisory_xact_lock(hashtext(%(key)s))", {"key": f"partitions:{spec.table}"}
    )
