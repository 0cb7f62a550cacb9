"""Sessions read as sessions and daily usage (the sweep that keeps them current is
`sessions.sweep`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.accounts import service as accounts_service
from pulsegate.api.pagination import decode_cursor, encode_cursor
from pulsegate.errors import InvalidRequest
from pulsegate.sessions import repository
from pulsegate.sessions.repository import SessionFilter
from pulsegate.sessions.schemas import (
    DailyUsage,
    FeatureTime,
    ModuleTime,
    SessionOut,
    SessionPage,
    UsageMeasures,
    UsageReport,
)

MEASURE_DAYS = 30
MAX_USAGE_DAYS = 366


async def list_sessions(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    where: SessionFilter,
    cursor: str | None,
    limit: int,
) -> SessionPage:
    after = decode_cursor(cursor) if cursor else None
    rows = await repository.list_sessions(
        session, workspace_id=workspace_id, where=where, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    return SessionPage(
        items=[_session_out(row) for row in page],
        next_cursor=encode_cursor(page[-1]["started_at"], page[-1]["id"]) if more else None,
    )


def _session_out(row: Any) -> SessionOut:
    return SessionOut(
        session_key=row["session_key"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        seconds=row["duration_ms"] / 1000,
        events=row["events"],
        user_id=row["user_id"],
        account_id=row["account_id"],
        closed=row["closed"],
        modules=[
            ModuleTime(module=m["module"], seconds=m["ms"] / 1000, events=m["events"])
            for m in row["modules"]
        ],
        features=[
            FeatureTime(feature=f["feature"], seconds=f["ms"] / 1000, events=f["events"])
            for f in row["features"]
        ],
    )


@dataclass(slots=True)
class _Day:
    sessions: int = 0
    ms: int = 0
    events: int = 0
    users: set[str] = field(default_factory=set)
    modules: dict[str | None, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    features: dict[str | None, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )

    def add(self, row: Any) -> None:
        self.sessions += 1
        self.ms += row["duration_ms"]
        self.events += row["events"]
        if row["user_id"] is not None:
            self.users.add(row["user_id"])
        for name, target in (("module", self.modules), ("feature", self.features)):
            for entry in row[f"{name}s"]:
                target[entry[name]][0] += entry["ms"]
                target[entry[name]][1] += entry["events"]

    def out(self, day: date) -> DailyUsage:
        return DailyUsage(
            date=day,
            sessions=self.sessions,
            seconds=self.ms / 1000,
            events=self.events,
            active_users=len(self.users),
            modules=[
                ModuleTime(module=k, seconds=v[0] / 1000, events=v[1])
                for k, v in _by_name(self.modules)
            ],
            features=[
                FeatureTime(feature=k, seconds=v[0] / 1000, events=v[1])
                for k, v in _by_name(self.features)
            ],
        )


def _by_name(usage: dict[str | None, list[int]]) -> list[tuple[str | None, list[int]]]:
    return sorted(usage.items(), key=lambda item: (item[0] is not None, item[0] or ""))


def _days(rows: Iterable[Any], first_day: date, last_day: date) -> dict[date, _Day]:
    days = {first_day + timedelta(days=n): _Day() for n in range((last_day - first_day).days + 1)}
    for row in rows:
        days[row["day"]].add(row)
    return days


async def usage(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    account_id: str | None = None,
    user_id: str | None = None,
    first_day: date,
    last_day: date,
    timezone: str,
) -> UsageReport:
    """Daily usage of one account (with its health measures as of `last_day`) or one user.

    A session counts on the day it starts, in `timezone`, with all its time and events.
    """
    if last_day < first_day or (last_day - first_day).days >= MAX_USAGE_DAYS:
        raise InvalidRequest(
            f"'from' must not be after 'to', and at most {MAX_USAGE_DAYS} days apart",
            code="invalid_range",
        )
    user_count = None
    if account_id is not None:
        user_count = (
            await accounts_service.get_account(session, workspace_id, account_id)
        ).user_count
    else:
        assert user_id is not None
        await accounts_service.get_user(session, workspace_id, user_id)
    measure_from = last_day - timedelta(days=MEASURE_DAYS - 1)
    rows = await repository.sessions_by_day(
        session,
        workspace_id=workspace_id,
        account_id=account_id,
        user_id=user_id,
        first_day=min(first_day, measure_from),
        last_day=last_day,
        timezone=timezone,
    )
    days = _days(rows, min(first_day, measure_from), last_day)
    return UsageReport(
        account_id=account_id,
        user_id=user_id,
        days=[days[day].out(day) for day in sorted(days) if day >= first_day],
        measures=_measures(days, last_day, user_count) if account_id is not None else None,
    )


def _measures(days: dict[date, _Day], as_of: date, user_count: int | None) -> UsageMeasures:
    window = [days[as_of - timedelta(days=n)] for n in range(MEASURE_DAYS)]
    return measures_of(
        as_of=as_of,
        days_active=sum(1 for day in window if day.sessions),
        duration_ms=sum(day.ms for day in window),
        active_user_days=sum(len(day.users) for day in window),
        daily_users=len(days[as_of].users),
        monthly_users=len(set().union(*(day.users for day in window))),
        user_count=user_count,
    )


def measures_of(
    *,
    as_of: date,
    days_active: int,
    duration_ms: int,
    active_user_days: int,
    daily_users: int,
    monthly_users: int,
    user_count: int | None,
) -> UsageMeasures:
    """The usage measures over the 30 days ending `as_of`, from their counts."""
    return UsageMeasures(
        as_of=as_of,
        days_active=days_active,
        seconds_per_active_user_day=(
            duration_ms / 1000 / active_user_days if active_user_days else 0.0
        ),
        dau_share=daily_users / user_count if user_count else None,
        mau_share=monthly_users / user_count if user_count else None,
    )


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """One account's usage as of a day, from which health scores read their measures."""

    as_of: date
    sessions_by_day: dict[date, int] = field(default_factory=dict)
    days_active: int = 0
    duration_ms: int = 0
    active_user_days: int = 0
    daily_users: int = 0
    monthly_users: int = 0

    def measures(self, user_count: int | None) -> UsageMeasures:
        """The measures of `GET /accounts/{id}/usage`, over the 30 days ending `as_of`."""
        return measures_of(
            as_of=self.as_of,
            days_active=self.days_active,
            duration_ms=self.duration_ms,
            active_user_days=self.active_user_days,
            daily_users=self.daily_users,
            monthly_users=self.monthly_users,
            user_count=user_count,
        )

    def sessions(self, days: int) -> int:
        """Sessions started in the `days` days ending `as_of`."""
        first = self.as_of - timedelta(days=days - 1)
        return sum(count for day, count in self.sessions_by_day.items() if day >= first)


async def usage_by_account(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    as_of: date,
    days: int,
    timezone: str,
) -> dict[str, AccountUsage]:
    """Usage of every account over the `days` (at least 30) days ending `as_of`, read as one
    row per account. An account without sessions is absent: its usage is `AccountUsage(as_of)`.
    """
    first_day = as_of - timedelta(days=max(days, MEASURE_DAYS) - 1)
    rows = await repository.usage_by_account(
        session,
        workspace_id=workspace_id,
        first_day=first_day,
        last_day=as_of,
        timezone=timezone,
    )
    return {
        row["account_id"]: AccountUsage(
            as_of=as_of,
            sessions_by_day={
                date.fromisoformat(day): int(count) for day, count in row["sessions_by_day"].items()
            },
            days_active=row["days_active"],
            duration_ms=int(row["duration_ms"]),
            active_user_days=row["active_user_days"],
            daily_users=row["daily_users"],
            monthly_users=row["monthly_users"],
        )
        for row in rows
    }
