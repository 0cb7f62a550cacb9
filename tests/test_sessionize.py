"""Seed 001's session rules, worked examples with exact times (pulsegate.sessions.sessionize)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pulsegate.sessions.sessionize import (
    Session,
    SessionEvent,
    SessionRules,
    build_sessions,
    module_of,
    reopen,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = SessionRules()  # 30-minute timeout, no tail, 24-hour cut


def at(
    seconds: float, module: str | None = "Reports", feature: str = "Open", mid: str = ""
) -> SessionEvent:
    return SessionEvent(
        timestamp=T0 + timedelta(seconds=seconds),
        message_id=mid or f"m-{seconds:012.3f}",
        module=module,
        feature=feature,
    )


def shape(sessions: list[Session]) -> list[tuple[float, float, int, float]]:
    """(start, end, events, seconds) of each session, in seconds from T0."""
    return [
        (
            (s.started_at - T0).total_seconds(),
            (s.ended_at - T0).total_seconds(),
            s.events,
            s.duration_ms / 1000,
        )
        for s in sessions
    ]


def module_seconds(session: Session) -> dict[str | None, float]:
    return {module: usage.ms / 1000 for module, usage in session.modules.items()}


def test_one_session_is_the_sum_of_its_gaps() -> None:
    sessions = build_sessions([at(0), at(60), at(300.5)], RULES)
    assert shape(sessions) == [(0, 300.5, 3, 300.5)]


def test_a_gap_just_under_or_exactly_the_timeout_continues_and_just_over_splits() -> None:
    assert shape(build_sessions([at(0), at(1799.999)], RULES)) == [(0, 1799.999, 2, 1799.999)]
    just_under = build_sessions([at(0), at(1800)], RULES)
    assert shape(just_under) == [(0, 1800, 2, 1800)]
    just_over = build_sessions([at(0), at(1800.001)], RULES)
    assert shape(just_over) == [(0, 0, 1, 0), (1800.001, 1800.001, 1, 0)]


def test_module_switches_credit_each_gap_to_the_module_that_opens_it() -> None:
    events = [
        at(0, "Reports"),
        at(120, "Dashboards"),  # Reports gets 120 s
        at(150, "Reports"),  # Dashboards gets 30 s
        at(450, "Settings"),  # Reports gets 300 s
        at(460, "Settings"),  # Settings gets 10 s; the last event has no tail
    ]
    [session] = build_sessions(events, RULES)
    assert session.duration_ms == 460_000
    assert module_seconds(session) == {"Reports": 420, "Dashboards": 30, "Settings": 10}
    assert sum(u.ms for u in session.modules.values()) == session.duration_ms
    assert {m: u.events for m, u in session.modules.items()} == {
        "Reports": 2,
        "Dashboards": 1,
        "Settings": 2,
    }


def test_a_single_event_session_lasts_the_tail() -> None:
    [no_tail] = build_sessions([at(0)], RULES)
    assert (no_tail.events, no_tail.duration_ms) == (1, 0)
    [with_tail] = build_sessions([at(0)], SessionRules(tail=timedelta(seconds=45)))
    assert with_tail.duration_ms == 45_000
    assert module_seconds(with_tail) == {"Reports": 45}


def test_the_tail_goes_to_the_last_events_module() -> None:
    [session] = build_sessions(
        [at(0, "Reports"), at(100, "Billing")], SessionRules(tail=timedelta(seconds=30))
    )
    assert session.duration_ms == 130_000
    assert module_seconds(session) == {"Reports": 100, "Billing": 30}


def test_a_session_is_cut_at_24_hours() -> None:
    # One event every 20 minutes for 25 hours: never a gap over the timeout.
    events = [at(minute * 60) for minute in range(0, 25 * 60 + 1, 20)]
    first, second = build_sessions(events, RULES)
    # The first session holds the events before 24:00; the one at 24:00 starts the next.
    assert shape([first]) == [(0, 23 * 3600 + 40 * 60, 72, 23 * 3600 + 40 * 60)]
    assert shape([second]) == [(24 * 3600, 25 * 3600, 4, 3600)]
    # The 20-minute gap across the cut is counted in neither session.
    assert second.chain_started_at == first.chain_started_at == T0


def test_building_from_a_later_sessions_start_gives_the_same_sessions_from_there() -> None:
    # Three days without a pause: sessions cut at 0, 24 and 48 hours, all one chain.
    events = [at(minute * 60) for minute in range(0, 72 * 60, 20)]
    whole = build_sessions(events, RULES)
    assert len(whole) == 3
    third = whole[2]
    resumed = build_sessions(
        [event for event in events if event.timestamp >= third.started_at],
        RULES,
        chain_started_at=third.chain_started_at,
    )
    assert resumed == [third]
    assert third.chain_started_at == T0


def test_going_on_from_a_built_session_gives_the_sessions_of_building_at_once() -> None:
    # With a tail, across modules, a 40-minute gap and a 24-hour cut (every 10 minutes for
    # 25 hours from 23:20 in): each split point is a sweep that goes on from the last session.
    rules = SessionRules(tail=timedelta(seconds=45))
    events = [at(0, "Home"), at(60, "Reports", "Build"), at(2460, "Reports", "Export")] + [
        at(2460 + minute * 60, ("Home", "Billing")[minute % 20 == 0])
        for minute in range(10, 1500, 10)
    ]
    whole = build_sessions(events, rules)
    assert len(whole) == 3
    for split in (1, 2, 3, 50, len(events) - 1):
        built = build_sessions(events[:split], rules)
        last_session, last_event = built[-1], events[split - 1]
        assert reopen(last_session, last_event, rules)
        went_on = build_sessions(events[split:], rules, resume=(last_session, last_event))
        assert built[:-1] + went_on == whole


def test_a_session_built_with_a_shorter_tail_is_not_reopened() -> None:
    [session] = build_sessions([at(0, "Home"), at(60, "Reports")], RULES)
    before = (session.duration_ms, module_seconds(session))
    assert not reopen(session, at(60, "Reports"), SessionRules(tail=timedelta(seconds=45)))
    assert (session.duration_ms, module_seconds(session)) == before


def test_ties_in_time_are_ordered_by_message_id_by_the_caller() -> None:
    a = at(10, "Reports", mid="a")
    b = at(10, "Billing", mid="b")
    [session] = build_sessions([at(0, "Home", mid="0"), a, b, at(70, "Home", mid="z")], RULES)
    # The 60 s after the tie are opened by "b", the later message id.
    assert module_seconds(session) == {"Home": 10, "Reports": 0, "Billing": 60}


def test_modules_of_events_without_one() -> None:
    assert module_of(type="track", module="Reports", category=None, name=None) == "Reports"
    assert module_of(type="track", module=None, category=None, name=None) is None
    assert module_of(type="page", module=None, category="Docs", name="Pricing") == "Docs"
    assert module_of(type="screen", module=None, category=None, name="Home") == "Home"
    assert module_of(type="page", module="Billing", category="Docs", name="x") == "Billing"
    assert module_of(type="page", module="", category="", name="") is None


def test_user_and_account_are_the_last_ones_seen() -> None:
    events = [
        SessionEvent(T0, "1", "M", "f", user_id=None, group_id=None),
        SessionEvent(T0 + timedelta(seconds=5), "2", "M", "f", user_id="u-1", group_id="g-1"),
        SessionEvent(T0 + timedelta(seconds=9), "3", "M", "f", user_id=None, group_id=None),
    ]
    [session] = build_sessions(events, RULES)
    assert (session.user_id, session.group_id) == ("u-1", "g-1")
