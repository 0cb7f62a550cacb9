"""Sessions from one session key's events: the rules of docs/sessions.md, as a pure function.

- Events are taken in order of their corrected timestamp, ties broken by messageId.
- A gap longer than the timeout (30 minutes by default) ends a session; the next event starts
  a new one. A gap of exactly the timeout does not.
- A session is also cut at 24 hours: an event at or past 24 hours after the session's first
  event starts a new session. The gap across such a cut is counted in neither session.
- Session time is the sum of the gaps between its consecutive events, plus a tail for the
  last event (0 by default): a single-event session lasts the tail.
- Each gap is credited to the module, and to the feature, of the event that opens it; the tail
  to the last event's. So the module times of a session add up to its time, and so do the
  feature times.
- An event's module is `properties.module` when given; a page or screen call without one
  counts under its category, else its name; a track call without one counts under no module
  (`null`). Its feature is the track call's event name, or the page or screen name.

Times are whole milliseconds: each gap is rounded on its own, so the sums are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

MAX_SESSION_LENGTH = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SessionRules:
    timeout: timedelta = timedelta(minutes=30)
    tail: timedelta = timedelta(0)
    max_length: timedelta = MAX_SESSION_LENGTH


# Not frozen: the sweep makes one per event, and a frozen dataclass sets each field through
# object.__setattr__ (bench/README.md, "The month again").
@dataclass(slots=True)
class SessionEvent:
    timestamp: datetime
    message_id: str
    module: str | None
    feature: str | None
    user_id: str | None = None
    group_id: str | None = None


@dataclass(slots=True)
class Usage:
    ms: int = 0
    events: int = 0


@dataclass(slots=True)
class Session:
    started_at: datetime
    chain_started_at: datetime
    first_message_id: str
    ended_at: datetime
    user_id: str | None
    group_id: str | None
    events: int = 0
    duration_ms: int = 0
    modules: dict[str | None, Usage] = field(default_factory=dict)
    features: dict[str | None, Usage] = field(default_factory=dict)


def module_of(
    *, type: str, module: str | None, category: str | None, name: str | None
) -> str | None:
    """The module an event's time is credited to (see the module docstring)."""
    if module:
        return module
    if type in ("page", "screen"):
        return category or name or None
    return None


def build_sessions(
    events: Iterable[SessionEvent],
    rules: SessionRules,
    *,
    chain_started_at: datetime | None = None,
    resume: tuple[Session, SessionEvent] | None = None,
) -> list[Session]:
    """Sessions of one key's events, which must come in (timestamp, message_id) order.

    A session's `chain_started_at` is the first event after the last gap over the timeout.
    Where a session ends depends only on its own start and its events, never on anything
    earlier: so a rebuild may start at the start of any built session, with that session's
    `chain_started_at` given here for the first session it opens (else the first event starts
    a chain).

    Or it may go on from a session already built, `resume`: that session as `reopen` left it
    and its last event; `events` are then the ones after that last event, and the session
    comes back first, extended by those that join it.
    """
    sessions: list[Session] = []
    current, last = resume if resume is not None else (None, None)
    for event in events:
        if current is None or last is None:
            current = _open(event, chain_started_at=chain_started_at or event.timestamp)
        elif event.timestamp - last.timestamp > rules.timeout:
            sessions.append(_close(current, last, rules))
            current = _open(event, chain_started_at=event.timestamp)
        elif event.timestamp - current.started_at >= rules.max_length:
            sessions.append(_close(current, last, rules))
            current = _open(event, chain_started_at=current.chain_started_at)
        else:
            _credit(current, last, _milliseconds(event.timestamp - last.timestamp))
        _count(current, event)
        last = event
    if current is not None and last is not None:
        sessions.append(_close(current, last, rules))
    return sessions


def reopen(session: Session, last: SessionEvent, rules: SessionRules) -> bool:
    """Take back the tail credited when `session` was closed at its last event `last`, so
    that `build_sessions(..., resume=(session, last))` can go on with later events; False,
    leaving it as it was, if the session does not hold that tail (it was built with a longer
    tail, or its events changed since), which only a rebuild from its start can repair."""
    tail = _milliseconds(rules.tail)
    module, feature = session.modules.get(last.module), session.features.get(last.feature)
    if module is None or feature is None or min(module.ms, feature.ms) < tail:
        return False
    _credit(session, last, -tail)
    return True


def _open(event: SessionEvent, *, chain_started_at: datetime) -> Session:
    return Session(
        started_at=event.timestamp,
        chain_started_at=chain_started_at,
        first_message_id=event.message_id,
        ended_at=event.timestamp,
        user_id=None,
        group_id=None,
    )


def _count(session: Session, event: SessionEvent) -> None:
    session.events += 1
    session.ended_at = event.timestamp
    session.user_id = event.user_id or session.user_id
    session.group_id = event.group_id or session.group_id
    _usage_of(session.modules, event.module).events += 1
    _usage_of(session.features, event.feature).events += 1


def _usage_of(usage: dict[str | None, Usage], name: str | None) -> Usage:
    # Not `setdefault(name, Usage())`, which would make a Usage for every event.
    found = usage.get(name)
    if found is None:
        found = usage[name] = Usage()
    return found


def _credit(session: Session, opener: SessionEvent, ms: int) -> None:
    session.duration_ms += ms
    session.modules[opener.module].ms += ms
    session.features[opener.feature].ms += ms


def _close(session: Session, last: SessionEvent, rules: SessionRules) -> Session:
    _credit(session, last, _milliseconds(rules.tail))
    return session


_MILLISECOND = timedelta(milliseconds=1)


def _milliseconds(span: timedelta) -> int:
    return round(span / _MILLISECOND)
