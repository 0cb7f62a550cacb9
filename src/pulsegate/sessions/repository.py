"""SQL of reading sessions: listed, by day, and an account's usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import RowMapping, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import Session as SessionRow

_sessions = SessionRow.__table__
_SESSION_COLUMNS = [
    _sessions.c[name]
    for name in (
        "id",
        "workspace_id",
        "session_key",
        "started_at",
        "ended_at",
        "events",
        "duration_ms",
        "modules",
        "features",
        "closed",
    )
]


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
    """Sessions in start order, by their stored attribution: each filter is an index range
    in this order (`ix_sessions_resolved_user`, `_resolved_account`, `_workspace_id_started_at`).
    """
    s = _sessions.c
    query = select(
        *_SESSION_COLUMNS,
        s.resolved_user_id.label("user_id"),
        s.resolved_account_id.label("account_id"),
    ).where(s.workspace_id == workspace_id)
    if where.account_id is not None:
        query = query.where(s.resolved_account_id == where.account_id)
    if where.user_id is not None:
        query = query.where(s.resolved_user_id == where.user_id)
    if where.since is not None:
        query = query.where(s.started_at >= where.since)
    if where.until is not None:
        query = query.where(s.started_at < where.until)
    if after is not None:
        query = query.where(tuple_(s.started_at, s.id) > tuple_(*after))
    query = query.order_by(s.started_at, s.id).limit(limit)
    return list((await session.execute(query)).mappings().all())


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
    column, value = (
        ("resolved_account_id", account_id)
        if account_id is not None
        else ("resolved_user_id", user_id)
    )
    result = await session.execute(
        text(
            f"""
            SELECT (started_at AT TIME ZONE :tz)::date AS day, resolved_user_id AS user_id,
                   events, duration_ms, modules, features
            FROM sessions
            WHERE workspace_id = :w AND {column} = :value
              AND started_at >= (CAST(:first AS date)::timestamp AT TIME ZONE :tz)
              AND started_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz)
            """
        ),
        {"w": workspace_id, "value": value, "first": first_day, "last": last_day, "tz": timezone},
    )
    return list(result.mappings().all())


async def usage_by_account(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    first_day: date,
    last_day: date,
    timezone: str,
) -> list[RowMapping]:
    """One row per account with sessions between the days (in `timezone`): its sessions per
    day, and over the 30 days ending `last_day` the counts health scores measure. Summed in
    the database, so scoring a workspace reads one row per account: the window's sessions are
    read from `ix_sessions_workspace_id_started_at` alone (it includes the columns summed),
    and grouped by (account, day, user) once; every count derives from those groups, with
    no DISTINCT to sort."""
    # Half a million sessions group into as many rows: in memory, not spilled to disk.
    await session.execute(text("SET LOCAL work_mem = '64MB'"))
    result = await session.execute(
        text(
            """
            WITH per_user_day AS MATERIALIZED (
                SELECT resolved_account_id AS account_id,
                       (started_at AT TIME ZONE :tz)::date AS day,
                       resolved_user_id AS user_id, count(*) AS sessions,
                       sum(duration_ms) AS duration_ms
                FROM sessions
                WHERE workspace_id = :w AND resolved_account_id IS NOT NULL
                  AND started_at >= (CAST(:first AS date)::timestamp AT TIME ZONE :tz)
                  AND started_at < ((CAST(:last AS date) + 1)::timestamp AT TIME ZONE :tz)
                GROUP BY 1, 2, 3
            ),
            per_day AS (
                SELECT account_id, day, sum(sessions) AS sessions,
                       sum(duration_ms) AS duration_ms, count(*)::int AS users
                FROM per_user_day GROUP BY 1, 2
            ),
            by_day AS (
                SELECT account_id, jsonb_object_agg(day, sessions) AS sessions_by_day,
                       count(*) FILTER (WHERE day > CAST(:last AS date) - 30) AS days_active,
                       COALESCE(sum(duration_ms) FILTER (
                           WHERE day > CAST(:last AS date) - 30), 0) AS duration_ms,
                       COALESCE(sum(users) FILTER (
                           WHERE day > CAST(:last AS date) - 30), 0)::bigint AS active_user_days,
                       COALESCE(sum(users) FILTER (
                           WHERE day = CAST(:last AS date)), 0)::bigint AS daily_users
                FROM per_day GROUP BY account_id
            ),
            monthly AS (
                SELECT account_id, count(*) AS monthly_users
                FROM (SELECT DISTINCT account_id, user_id FROM per_user_day
                      WHERE day > CAST(:last AS date) - 30) AS users
                GROUP BY account_id
            )
            SELECT by_day.account_id, by_day.sessions_by_day, by_day.days_active,
                   by_day.duration_ms, by_day.active_user_days,
                   COALESCE(monthly.monthly_users, 0) AS monthly_users, by_day.daily_users
            FROM by_day LEFT JOIN monthly USING (account_id)
            """
        ),
        {"w": workspace_id, "first": first_day, "last": last_day, "tz": timezone},
    )
    return list(result.mappings().all())
