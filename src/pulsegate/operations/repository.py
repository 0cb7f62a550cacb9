"""SQL of the operator's view: backlog, lag, deliveries and rejected messages.

Every figure here is read at a cost that does not grow with the log: positions and index
probes, counts of sets that stay small (pending and dead deliveries, the backlog, the last
day's refusals), and for the tables that grow with traffic the planner's row estimates
(exact below `EXACT_BELOW` rows, where counting is cheap).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.storage import partitions

EXACT_BELOW = 100_000
# The backlog is counted up to this many messages per workspace; past it the figure is a floor.
BACKLOG_COUNT_CAP = 10_000


async def backlog(session: AsyncSession) -> tuple[int, float]:
    """Messages past the projector's positions (counted up to the cap per workspace), and the
    age in seconds of the oldest: one range of the log's primary key per workspace, empty when
    caught up."""
    row = (
        await session.execute(
            text(
                """
                SELECT COALESCE(sum(pending.messages), 0) AS messages,
                       COALESCE(EXTRACT(EPOCH FROM now() - min(pending.oldest)), 0) AS lag
                FROM workspaces w
                LEFT JOIN projector_positions p ON p.workspace_id = w.id
                CROSS JOIN LATERAL (
                    SELECT count(*) AS messages, min(received_at) AS oldest FROM (
                        SELECT m.received_at FROM inbound_messages m
                        WHERE m.workspace_id = w.id AND m.id > COALESCE(p.last_id, 0)
                        ORDER BY m.id LIMIT :cap) AS unapplied
                ) AS pending
                """
            ),
            {"cap": BACKLOG_COUNT_CAP},
        )
    ).one()
    return int(row.messages), max(float(row.lag), 0.0)


def _estimated_count(table: str, *, status: str | None = None) -> str:
    """SQL: the table's rows (with `status`), exact when small, else the planner's estimate.

    A partitioned table's own statistics are never gathered (autovacuum analyzes its
    partitions): the estimate sums its partitions' row counts, each times the share of
    `status` in that partition's statistics."""
    where = f"WHERE status = '{status}'" if status else ""
    share = (
        f"""COALESCE((SELECT frequency FROM pg_stats,
                       unnest(most_common_vals::text::text[], most_common_freqs)
                       AS common(value, frequency)
                   WHERE schemaname = current_schema() AND tablename = p.relname
                     AND attname = 'status' AND value = '{status}'), 0)"""
        if status
        else "1"
    )
    return f"""
        SELECT CASE WHEN e.total < {EXACT_BELOW} THEN (SELECT count(*) FROM {table} {where})
                    ELSE e.estimate::bigint END
        FROM (
            SELECT COALESCE(sum(greatest(p.reltuples, 0)), 0) AS total,
                   COALESCE(sum(greatest(p.reltuples, 0) * {share}), 0) AS estimate
            FROM pg_class p
            WHERE p.oid IN (
                SELECT t.relid FROM pg_partition_tree('{table}'::regclass) AS t WHERE t.isleaf
                UNION ALL
                SELECT '{table}'::regclass WHERE (
                    SELECT relkind FROM pg_class WHERE oid = '{table}'::regclass) <> 'p'
            )
        ) AS e
    """


async def deliveries_by_status(session: AsyncSession) -> dict[str, int]:
    """Pending and dead exactly (few, through `ix_deliveries_due`); sent as estimated."""
    result = await session.execute(
        text(
            "SELECT status, count(*) AS n FROM deliveries "
            "WHERE status IN ('pending', 'dead') GROUP BY status"
        )
    )
    counts = {row.status: int(row.n) for row in result}
    counts["sent"] = int(
        await session.scalar(text(_estimated_count("deliveries", status="sent"))) or 0
    )
    return counts


async def rejected_total(session: AsyncSession) -> int:
    return int(await session.scalar(text(_estimated_count("rejected_messages"))) or 0)


async def rejected_by_reason_last_day(session: AsyncSession) -> dict[str, int]:
    """Refusals of the last 24 hours by reason code (each reason of a message counts), read
    through `ix_rejected_messages_received_at`.

    Without parallel workers: the planner, taking each message to hold a hundred reasons,
    launched two for a handful of rows (13 ms a call on a quiet gateway, against well under
    one, in every /admin/health poll)."""
    await session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    result = await session.execute(
        text(
            """
            SELECT reason->>'code' AS code, count(*) AS n
            FROM rejected_messages, jsonb_array_elements(reasons) AS reason
            WHERE received_at > now() - interval '24 hours'
            GROUP BY 1 ORDER BY 2 DESC, 1
            """
        )
    )
    return {row.code: int(row.n) for row in result}


# The tables that grow with traffic or with tenants, as /admin/health and /metrics report them.
SIZED_TABLES = (
    "inbound_messages",
    "events",
    "sessions",
    "session_dirty",
    "rejected_messages",
    "deliveries",
    "projection_notes",
    "accounts",
    "users",
    "identities",
    "metric_values",
    "health_scores",
    "job_runs",
)


async def table_sizes(session: AsyncSession) -> dict[str, int]:
    """Bytes on disk of each table, indexes and TOAST included (a partitioned table's
    partitions summed): catalog lookups, whatever the tables hold."""
    result = await session.execute(
        text(
            """
            SELECT c.relname AS name,
                   CASE WHEN c.relkind = 'p'
                        THEN (SELECT COALESCE(sum(pg_total_relation_size(t.relid)), 0)
                              FROM pg_partition_tree(c.oid) AS t)::bigint
                        ELSE pg_total_relation_size(c.oid) END AS bytes
            FROM pg_class c
            WHERE c.relname = ANY(:tables) AND c.relkind IN ('r', 'p')
              AND c.relnamespace = current_schema()::regnamespace
            """
        ),
        {"tables": list(SIZED_TABLES)},
    )
    return {row.name: int(row.bytes) for row in result}


@dataclass(frozen=True, slots=True)
class ArchiveState:
    oldest_hot_day: date | None  # the first day of the log still in the database
    days_waiting: int  # days of the log past the hot window, still in the database
    last_error: str | None  # the newest error of a day not archived yet
    last_error_day: date | None
    last_error_at: datetime | None


async def archive_state(session: AsyncSession, *, hot_days: int) -> ArchiveState:
    """The log's days from the catalog (its partitions' names), the errors from `archive_days`:
    no row of the log is read."""
    connection = await session.connection()
    days = await partitions.partition_days(connection, partitions.INBOUND_MESSAGES.table)
    cutoff = datetime.now(UTC).date() - timedelta(days=hot_days)
    error = (
        await session.execute(
            text(
                "SELECT day, last_error, last_error_at FROM archive_days "
                "WHERE last_error IS NOT NULL AND dropped_at IS NULL "
                "ORDER BY last_error_at DESC LIMIT 1"
            )
        )
    ).first()
    return ArchiveState(
        oldest_hot_day=days[0] if days else None,
        days_waiting=sum(day < cutoff for day in days),
        last_error=error.last_error if error else None,
        last_error_day=error.day if error else None,
        last_error_at=error.last_error_at if error else None,
    )
