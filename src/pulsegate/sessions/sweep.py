"""The session sweep: it keeps sessions current.

The projector queues the session key of every new event with its time (`session_dirty`). The
sweep takes keys off that queue and rebuilds each key's sessions from the start of the session
the earliest new event joins (see `queue.find_windows`) with the pure rules of
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from psycopg.errors import LockNotAvailable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.projection import service as projection_service
from pulsegate.sessions import queue
from pulsegate.sessions.queue import DirtyKey, KeyWindow
from pulsegate.sessions.sessionize import (
    Session,
    SessionEvent,
    SessionRules,
    build_sessions,
    module_of,
    reopen,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SweepResult:
    keys: int
    sessions: int
    closed: int
    continued: int = 0  # keys whose latest session was gone on from, not read again


# How long the sweep waits for a busy workspace's projection lock (`_batches`).
LOCK_WAIT = timedelta(seconds=5)


@dataclass(slots=True)
class _Tally:
    keys: int = 0
    sessions: int = 0
    continued: int = 0


async def sweep(
    engine: AsyncEngine,
    *,
    rules: SessionRules,
    keys_per_batch: int = 500,
    lock_wait: timedelta = LOCK_WAIT,
) -> SweepResult:
    """Rebuild the sessions of every queued key, in bounded batches, then close idle ones.

    Each batch commits with its keys' removal from the queue, so a crash repeats a batch and
    loses none. Safe to run on several replicas at once: they claim different keys. A batch
    holds the projection lock of each workspace it rebuilds (so the projector's attribution
    and the sweep's never interleave). A workspace whose lock a batch could not take goes
    back on the queue, and is swept last, waiting up to `lock_wait` for its lock: a
    projector that never catches up holds it for every batch but the instant between two,
    and a try alone left such a workspace's sessions unbuilt until its load dropped. A replay
    holds it for longer: its keys stay queued for a later sweep.
    """
    tally = _Tally()
    busy: list[uuid.UUID] = []
    await _batches(engine, rules, keys_per_batch, busy, tally)
    for workspace_id in busy:  # grows if a later batch finds another workspace busy
        await _batches(
            engine, rules, keys_per_batch, busy, tally, wait_for=(workspace_id, lock_wait)
        )
    async with engine.begin() as connection:
        closed = await queue.close_idle_sessions(connection, session_timeout=rules.timeout)
    if tally.keys or closed:
        log.info(
            "sessions.sweep.done",
            keys=tally.keys,
            continued=tally.continued,
            sessions=tally.sessions,
            closed=closed,
        )
    return SweepResult(
        keys=tally.keys, sessions=tally.sessions, closed=closed, continued=tally.continued
    )


async def _batches(
    engine: AsyncEngine,
    rules: SessionRules,
    keys_per_batch: int,
    busy: list[uuid.UUID],
    tally: _Tally,
    *,
    wait_for: tuple[uuid.UUID, timedelta] | None = None,
) -> None:
    """Claim, lock and rebuild batches until no key is left but the busy workspaces'.

    `wait_for` (a busy workspace, how long to wait): each batch first waits for that
    workspace's lock, then claims as the others do, its keys among them. The lock comes
    before the claim because the projector's batch queues keys: a sweep that held claimed
    keys while it waited for that batch's lock would deadlock with it. (A claim of that
    workspace's keys alone read and sorted all of them: 93 ms for 200,000 queued.) When the
    wait runs out (a replay) its keys stay queued."""
    waited, wait = wait_for if wait_for is not None else (None, timedelta(0))
    while True:
        try:
            async with engine.begin() as connection:
                if waited is not None:
                    await projection_service.lock_workspace_within(connection, waited, wait=wait)
                skip = [workspace for workspace in busy if workspace != waited]
                claimed = await queue.claim_dirty_keys(connection, keys_per_batch, skip=skip)
                if not claimed:
                    return
                ready = await _lock_workspaces(connection, claimed, busy)
                built, went_on = await _rebuild(connection, ready, rules)
        except DBAPIError as error:
            if not isinstance(error.orig, LockNotAvailable):
                raise
            log.info("sessions.sweep.workspace_busy", workspace_id=str(waited))
            return
        tally.keys, tally.sessions = tally.keys + len(ready), tally.sessions + built
        tally.continued += went_on


async def _lock_workspaces(
    connection: AsyncConnection, claimed: Sequence[DirtyKey], busy: list[uuid.UUID]
) -> list[DirtyKey]:
    """The claimed keys whose workspace lock this transaction got (or holds already); the
    others are requeued and their workspaces added to `busy`."""
    taken = {
        workspace_id
        for workspace_id in sorted({key.workspace_id for key in claimed})
        if not await projection_service.try_lock_workspace(connection, workspace_id)
    }
    busy.extend(sorted(taken))
    await queue.requeue_dirty_keys(connection, [k for k in claimed if k.workspace_id in taken])
    return [key for key in claimed if key.workspace_id not in taken]


async def _rebuild(
    connection: AsyncConnection, claimed: Sequence[DirtyKey], rules: SessionRules
) -> tuple[int, int]:
    """(sessions built, of the keys how many went on from their latest session)."""
    if not claimed:
        return 0, 0
    windows = await queue.find_windows(connection, claimed, session_timeout=rules.timeout)
    await queue.delete_sessions_from(connection, windows)
    built, again = _build(await queue.events_from(connection, windows), windows, rules)
    if again:  # a latest session that could not be reopened: read it all after all
        built += _build(await queue.events_from(connection, again), again, rules)[0]
    await queue.insert_sessions(connection, built, session_timeout=rules.timeout)
    return len(built), sum(window.latest is not None for window in windows) - len(again)


def _build(
    rows: Sequence[Any], windows: Sequence[KeyWindow], rules: SessionRules
) -> tuple[list[tuple[uuid.UUID, str, Session]], list[KeyWindow]]:
    """The sessions of each window's rows, and the windows to read again from their start."""
    built: list[tuple[uuid.UUID, str, Session]] = []
    again: list[KeyWindow] = []
    for place, key_rows in itertools.groupby(rows, key=_WINDOW_OF_ROW):
        window = windows[place]
        workspace_id, session_key = window.workspace_id, window.session_key
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


# The columns of `queue.events_from`, unpacked by position: a million events' attribute
# lookups on result rows were a large part of the sweep (bench/README.md, "The month again").
_WINDOW_OF_ROW = operator.itemgetter(0)


def _session_events(rows: Iterable[Any]) -> Iterable[SessionEvent]:
    for _, timestamp, message_id, type_, module, category, name, user_id, group_id in rows:
        yield SessionEvent(
            timestamp,
            message_id,
            module_of(type=type_, module=module, category=category, name=name),
            name,
            user_id,
            group_id,
        )
