"""Sessions: the sweep that keeps them current, and reading them as sessions and daily usage.

The projector queues the session key of every new event with its time (`session_dirty`). The
sweep takes keys off that queue and rebuilds each key's sessions from the start of the session
the earliest new event joins (see `repository.find_windows`) with the pure rules of
`sessionize`. Sessions are therefore a function of the set of events, whatever order,
duplication or lateness they arrived with. The sweep also closes sessions idle past the timeout.

Most keys at most sweeps are a live user's next events, after the end of their latest session:
the sweep then goes on from that session as stored (reopened: its tail taken back) with only
the new events, instead of reading all of the session's events again, which a long session
made the larger part of the sweep. The stored session stands for its events: an erasure that
removes some of a key's events but leaves its session (a session attributed to another user or
account) keeps them counted there, as it does for every earlier session of the key. A changed
tail or timeout applies from the next session (one that goes on keeps its tail's length), or to
all of them after a replay.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pulsegate.accounts import service as accounts_service
from pulsegate.api.pagination import decode_cursor, encode_cursor
from pulsegate.errors import InvalidRequest
from pulsegate.projection import service as projection_service
from pulsegate.sessions import repository
from pulsegate.sessions.repository import DirtyKey, KeyWindow, SessionFilter
from pulsegate.sessions.schemas import (
    DailyUsage,
    FeatureTime,
    ModuleTime,
    SessionOut,
    SessionPage,
    UsageMeasures,
    UsageReport,
)
from pulsegate.sessions.sessionize import (
    Session,
    SessionEvent,
    SessionRules,
    build_sessions,
    module_of,
    reopen,
)

log = structlog.get_logger(__name__)

MEASURE_DAYS = 30
MAX_USAGE_DAYS = 366


@dataclass(frozen=True, slots=True)
class SweepResult:
    keys: int
    sessions: int
    closed: int
    continued: int = 0  # keys whose latest session was gone on from, not read again


async def sweep(
    engine: AsyncEngine, *, rules: SessionRules, keys_per_batch: int = 500
) -> SweepResult:
    """Rebuild the sessions of every queued key, in bounded batches, then close idle ones.

    Each batch commits with its keys' removal from the queue, so a crash repeats a batch and
    loses none. Safe to run on several replicas at once: they claim different keys. A batch
    holds the projection lock of each workspace it rebuilds (so the projector's attribution
    and the sweep's never interleave); the keys of a workspace whose lock is taken (a replay)
    go back on the queue for a later sweep.
    """
    keys = sessions = continued = 0
    busy: list[uuid.UUID] = []
    while True:
        async with engine.begin() as connection:
            claimed = await repository.claim_dirty_keys(connection, keys_per_batch, skip=busy)
            if not claimed:
                break
            ready = await _lock_workspaces(connection, claimed, busy)
            built, went_on = await _rebuild(connection, ready, rules)
        keys, sessions, continued = keys + len(ready), sessions + built, continued + went_on
    async with engine.begin() as connection:
        closed = await repository.close_idle_sessions(connection, session_timeout=rules.timeout)
    if keys or closed:
        log.info(
            "sessions.sweep.done", keys=keys, continued=continued, sessions=sessions, closed=closed
        )
    return SweepResult(keys=keys, sessions=sessions, closed=closed, continued=continued)


async def _lock_workspaces(
    connection: AsyncConnection, claimed: Sequence[DirtyKey], busy: list[uuid.UUID]
) -> list[DirtyKey]:
    """The claimed keys whose workspace lock this transaction got; the others are requeued
    and their workspaces added to `busy`."""
    for workspace_id in sorted({key.workspace_id for key in claimed}):
        if not await projection_service.try_lock_workspace(connection, workspace_id):
            busy.append(workspace_id)
    waiting = [key for key in claimed if key.workspace_id in busy]
    await repository.requeue_dirty_keys(connection, waiting)
    return [key for key in claimed if key.workspace_id not in busy]


async def _rebuild(
    connection: AsyncConnection, claimed: Sequence[DirtyKey], rules: SessionRules
) -> tuple[int, int]:
    """(sessions built, of the keys how many went on from their latest session)."""
    if not claimed:
        return 0, 0
    windows = await repository.find_windows(connection, claimed, session_timeout=rules.timeout)
    await repository.delete_sessions_from(connection, windows)
    built, again = _build(await repository.events_from(connection, windows), windows, rules)
    if again:  # a latest session that could not be reopened: read it all after all
        built += _build(await repository.events_from(connection, again), again, rules)[0]
    await repository.insert_sessions(connection, built, session_timeout=rules.timeout)
    return len(built), sum(window.latest is not None for window in windows) - len(again)


def _build(
    rows: Sequence[Any], windows: Sequence[KeyWindow], rules: SessionRules
) -> tuple[list[tuple[uuid.UUID, str, Session]], list[KeyWindow]]:
    """The sessions of each window's rows, and the windows to read again from their start."""
    by_key = {(window.workspace_id, window.session_key): window for window in windows}
    built: list[tuple[uuid.UUID, str, Session]] = []
    again: list[KeyWindow] = []
    for (workspace_id, session_key), key_rows in itertools.groupby(rows, key=_KEY_OF_ROW):
        window = by_key[workspace_id, session_key]
        events: Iterable[SessionEvent] = _session_events(key_rows)
        resume = None
        if window.latest is not None:
            events, resume = _reopen(window.latest, list(events), rules)
            if resume is None:
                again.append(dataclasses.replace(window, latest=None))
                continue
        built.extend(
            (workspace_id, session_key, session)
            for session in build_sessions(
                events, rules, chain_started_at=window.chain, resume=resume
            )
        )
    return built, again


def _reopen(
    latest: Session, events: list[SessionEvent], rules: SessionRules
) -> tuple[list[SessionEvent], tuple[Session, SessionEvent] | None]:
    """The key's events after its latest session, and that session reopened with its last
    event (None if it does not reopen: `sessionize.reopen`). `events` were read from the
    session's end: its own events at that instant come first, the last of them its last."""
    at_end = sum(1 for _ in itertools.takewhile(lambda e: e.timestamp == latest.ended_at, events))
    if at_end == 0 or not reopen(latest, events[at_end - 1], rules):
        return events, None
    return events[at_end:], (latest, events[at_end - 1])


# The columns of `repository.events_from`, unpacked by position: a million events' attribute
# lookups on result rows were a large part of the sweep (bench/README.md, "The month again").
_KEY_OF_ROW = operator.itemgetter(0, 1)


def _session_events(rows: Iterable[Any]) -> Iterable[SessionEvent]:
    for _, _, timestamp, message_id, type_, module, category, name, user_id, group_id in rows:
        yield SessionEvent(
            timestamp,
            message_id,
            module_of(type=type_, module=module, category=category, name=name),
            name,
            user_id,
            group_id,
        )


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
