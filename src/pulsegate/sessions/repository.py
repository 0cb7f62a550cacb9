"""SQL of sessions: the sweep's queue, rebuilding a key's sessions, and reading them.

The sweep works on many keys at once: each statement takes the claimed keys as parallel
arrays (`unnest`), so a batch of keys costs a handful of round trips, not a few per key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.sessions.sessionize import Session, Usage


@dataclass(frozen=True, slots=True)
class DirtyKey:
    workspace_id: uuid.UUID
    session_key: str
    since: datetime


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """Rebuild the key's sessions from `start` on: the start of the chain a new event joins."""

    workspace_id: uuid.UUID
    session_key: str
    start: datetime


async def claim_dirty_keys(connection: AsyncConnection, limit: int) -> list[DirtyKey]:
    """Take keys off the queue. Deleted in the caller's transaction: a failed sweep puts them
    back by rolling back, and a concurrent sweep skips the ones taken."""
    result = await connection.exec_driver_sql(
        """
        DELETE FROM session_dirty d
        USING (SELECT workspace_id, session_key FROM session_dirty
               ORDER BY since LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS taken
        WHERE d.workspace_id = taken.workspace_id AND d.session_key = taken.session_key
        RETURNING d.workspace_id, d.session_key, d.since
        """,
        {"limit": limit},
    )
    return [DirtyKey(row.workspace_id, row.session_key, row.since) for row in result.all()]


def _key_arrays(keys: Sequence[DirtyKey | KeyWindow]) -> dict[str, list[Any]]:
    return {
        "w": [key.workspace_id for key in keys],
        "k": [key.session_key for key in keys],
    }


async def find_windows(
    connection: AsyncConnection, keys: Sequence[DirtyKey], *, session_timeout: timedelta
) -> list[KeyWindow]:
    """Where each key's rebuild starts.

    A new event at `since` joins the latest session that started at or before it when it lies
    inside that session or within the timeout after its end; the rebuild then starts at that
    session's chain start. Otherwise it starts at `since` itself: everything before lies
    behind a gap longer than the timeout, which no later event can bridge.
    """
    result = await connection.exec_driver_sql(
        """
        SELECT d.w, d.k, COALESCE((
            SELECT CASE WHEN s.ended_at + %(timeout)s >= d.since THEN s.chain_started_at END
            FROM sessions s
            WHERE s.workspace_id = d.w AND s.session_key = d.k AND s.started_at <= d.since
            ORDER BY s.started_at DESC LIMIT 1
        ), d.since) AS start
        FROM unnest(%(w)s::uuid[], %(k)s::text[], %(since)s::timestamptz[]) AS d(w, k, since)
        """,
        {**_key_arrays(keys), "since": [key.since for key in keys], "timeout": session_timeout},
    )
    return [KeyWindow(row.w, row.k, row.start) for row in result.all()]


async def delete_sessions_from(connection: AsyncConnection, windows: Sequence[KeyWindow]) -> None:
    await connection.exec_driver_sql(
        """
        DELETE FROM sessions s
        USING unnest(%(w)s::uuid[], %(k)s::text[], %(start)s::timestamptz[]) AS d(w, k, start)
        WHERE s.workspace_id = d.w AND s.session_key = d.k AND s.started_at >= d.start
        """,
        {**_key_arrays(windows), "start": [window.start for window in windows]},
    )


async def events_from(connection: AsyncConnection, windows: Sequence[KeyWindow]) -> Sequence[Any]:
    """The keys' events from each window's start, in session order.

    `COLLATE "C"` orders message ids by code point, the same order everywhere.
    """
    result = await connection.exec_driver_sql(
        """
        SELECT e.workspace_id, e.session_key, e.timestamp, e.message_id, e.type, e.module,
               e.category, e.name, e.user_id, e.account_id
        FROM unnest(%(w)s::uuid[], %(k)s::text[], %(start)s::timestamptz[]) AS d(w, k, start)
        JOIN events e ON e.workspace_id = d.w AND e.session_key = d.k AND e.timestamp >= d.start
        ORDER BY e.workspace_id, e.session_key, e.timestamp, e.message_id COLLATE "C"
        """,
        {**_key_arrays(windows), "start": [window.start for window in windows]},
    )
    return result.all()


def _usage(usage: dict[str | None, Usage], name: str) -> list[dict[str, Any]]:
    items = sorted(usage.items(), key=lambda item: (item[0] is not None, item[0] or ""))
    return [{name: key, "ms": value.ms, "events": value.events} for key, value in items]


async def insert_sessions(
    connection: AsyncConnection,
    rows: Sequence[tuple[uuid.UUID, str, Session]],
    *,
    session_timeout: timedelta,
) -> None:
    """Insert rebuilt sessions; one idle past the timeout (by the database clock) is closed.

    The batch goes as one JSON document: binding a dozen parallel arrays made psycopg adapt
    every element in Python, which took most of the sweep's time.
    """
    if not rows:
        return
    document = orjson.dumps(
        [
            {
                "w": workspace_id, "k": key, "started": s.started_at, "ended": s.ended_at,
                "chain": s.chain_started_at, "first": s.first_message_id, "u": s.user_id,
                "g": s.group_id, "n": s.events, "ms": s.duration_ms,
                "modules": _usage(s.modules, "module"), "features": _usage(s.features, "feature"),
            }
            for workspace_id, key, s in rows
        ]
    ).decode()  # fmt: skip
    await connection.exec_driver_sql(
        """
        INSERT INTO sessions (workspace_id, session_key, started_at, ended_at, chain_started_at,
                              first_message_id, user_id, group_id, events, duration_ms,
                              modules, features, closed)
        SELECT w, k, started, ended, chain, first, u, g, n, ms, modules, features,
               ended + %(timeout)s < now()
        FROM jsonb_to_recordset(%(rows)s::jsonb)
             AS s(w uuid, k text, started timestamptz, ended timestamptz, chain timestamptz,
                  first text, u text, g text, n int, ms bigint, modules jsonb, features jsonb)
        """,
        {"rows": document, "timeout": session_timeout},
    )


async def close_idle_sessions(connection: AsyncConnection, *, session_timeout: timedelta) -> int:
    result = await connection.exec_driver_sql(
        "UPDATE sessions SET closed = true WHERE NOT closed AND ended_at + %(timeout)s < now()",
        {"timeout": session_timeout},
    )
    return result.rowcount


@dataclass(frozen=True, slots=True)
class SessionFilter:
    account_id: str | None = None
    user_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_sessions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    where: SessionFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[RowMapping]:
    """Sessions in start order, attributed at read time (`resolved_sessions`)."""
    result = await session.execute(
        text(
            """
            SELECT * FROM resolved_sessions
            WHERE workspace_id = :w
              AND (CAST(:account AS text) IS NULL OR account_id = :account)
              AND (CAST(:user AS text) IS NULL OR user_id = :user)
              AND (CAST(:since AS timestamptz) IS NULL OR started_at >= :since)
              AND (CAST(:until AS timestamptz) IS NULL OR started_at < :until)
              AND (CAST(:after_t AS timestamptz) IS NULL
                   OR (started_at, id) > (:after_t, :after_id))
            ORDER BY started_at, id
            LIMIT :limit
            """
        ),
        {
            "w": workspace_id,
            "account": where.account_id,
            "user": where.user_id,
            "since": where.since,
            "until": where.until,
            "after_t": after[0] if after else None,
            "after_id": after[1] if after else 0,
            "limit": limit,
        },
    )
    return list(result.mappings().all())


async def sessions_by_day(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    account_id: str | None,
    user_id: str | None,
    first_day: date,
    last_day: date,
    timezone: str,
) -> list[RowMapping]:
    """An account's or a user's sessions that started on the given days (in `timezone`)."""
    result = await session.execute(
        text(
            """
            SELECT (started_at AT TIME ZONE :tz)::date AS day, user_id, events, duration_ms,
                   modules, features
            FROM resolved_sessions
            WHERE workspace_id = :w
              AND (CAST(:account AS text) IS NULL OR account_id = :account)
              AND (CAST(:user AS text) IS NULL OR user_id = :user)
              AND started_at >= (CAST(:first AS date)::timestamp AT TIME ZONE :tz)
              AND started_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz)
            """
        ),
        {
            "w": workspace_id,
            "account": account_id,
            "user": user_id,
            "first": first_day,
            "last": last_day,
            "tz": timezone,
        },
    )
    return list(result.mappings().all())


async def account_activity_by_day(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    first_day: date,
    last_day: date,
    timezone: str,
) -> list[RowMapping]:
    """Every account's sessions per day (in `timezone`) and user: counts and time, summed in
    the database so that scoring a workspace reads one row per account, day and user."""
    result = await session.execute(
        text(
            """
            SELECT account_id, (started_at AT TIME ZONE :tz)::date AS day, user_id,
                   count(*) AS sessions, sum(duration_ms) AS duration_ms
            FROM resolved_sessions
            WHERE workspace_id = :w AND account_id IS NOT NULL
              AND started_at >= (CAST(:first AS date)::timestamp AT TIME ZONE :tz)
              AND started_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz)
            GROUP BY 1, 2, 3
            """
        ),
        {"w": workspace_id, "first": first_day, "last": last_day, "tz": timezone},
    )
    return list(result.mappings().all())
