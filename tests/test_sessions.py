"""Sessions and daily usage from real deliveries: worked timelines, then any arrival order.

Events go in through the ingest API (or straight into the log, for the property test), the
projector applies them, and the session sweep builds sessions; reads go through the REST API.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulsegate.db.engine import create_engine
from pulsegate.projection import service as projection
from pulsegate.projection.repository import project_events
from pulsegate.sessions import sweep as sessions
from pulsegate.sessions.queue import claim_dirty_keys
from pulsegate.sessions.sessionize import SessionRules
from pulsegate.settings import Settings
from tests.support.http import bearer, send, wait_for_events
from tests.support.projection import INSERT, caught_up
from tests.support.sessions import ACCOUNT, T0, TIMELINE, sweep, track, wait_for_account
from tests.support.tenants import Tenant
from tests.support.waiting import eventually

BRIDGE = track("a-late", 1400, "Reports", anonymousId="anon-1")
DEFAULT_RULES = SessionRules()


async def test_sessions_and_daily_usage_of_a_worked_timeline(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await send(client, tenant, ACCOUNT + TIMELINE)
    await wait_for_events(client, tenant, len(TIMELINE))
    await wait_for_account(client, tenant, "acct-1")
    await sweep(app)

    listed = (await client.get("/api/v1/sessions", headers=bearer(tenant))).json()["items"]
    summary = [
        (
            s["session_key"],
            s["started_at"][11:19],
            s["seconds"],
            s["events"],
            s["user_id"],
            s["account_id"],
            s["closed"],
        )
        for s in listed
    ]
    assert summary == [
        ("anon-1", "09:00:00", 200.0, 3, "u-1", "acct-1", True),
        ("u-2", "09:01:40", 1800.0, 2, "u-2", "acct-1", True),
        ("anon-1", "09:43:20", 100.0, 2, "u-1", "acct-1", True),
        ("u-2", "10:03:20", 0.0, 1, "u-2", "acct-1", True),
    ]
    first, second = listed[0], listed[1]
    assert first["modules"] == [
        {"module": "Dashboards", "seconds": 0.0, "events": 1},
        {"module": "Reports", "seconds": 200.0, "events": 2},
    ]
    # A track call without a module counts under null; the gap it opens is credited there.
    assert second["modules"] == [
        {"module": None, "seconds": 1800.0, "events": 1},
        {"module": "Billing", "seconds": 0.0, "events": 1},
    ]
    # A page without a module counts under its category.
    assert listed[2]["modules"] == [
        {"module": "Docs", "seconds": 0.0, "events": 1},
        {"module": "Reports", "seconds": 100.0, "events": 1},
    ]

    usage = (
        await client.get(
            "/api/v1/accounts/acct-1/usage?from=2026-03-01&to=2026-03-02", headers=bearer(tenant)
        )
    ).json()
    quiet, active = usage["days"]
    assert (quiet["date"], quiet["sessions"], quiet["seconds"]) == ("2026-03-01", 0, 0.0)
    assert (active["sessions"], active["seconds"], active["events"], active["active_users"]) == (
        4,
        2100.0,
        8,
        2,
    )
    assert {m["module"]: m["seconds"] for m in active["modules"]} == {
        "Reports": 300.0,
        "Dashboards": 0.0,
        "Docs": 0.0,
        None: 1800.0,
        "Billing": 0.0,
    }
    assert sum(m["seconds"] for m in active["modules"]) == active["seconds"]
    assert usage["measures"] == {
        "as_of": "2026-03-02",
        "days_active": 1,
        "seconds_per_active_user_day": 1050.0,  # 2,100 s over two active users that day
        "dau_share": 1.0,
        "mau_share": 1.0,
    }
    user = (
        await client.get(
            "/api/v1/users/u-2/usage?from=2026-03-02&to=2026-03-02", headers=bearer(tenant)
        )
    ).json()
    assert [(d["sessions"], d["seconds"]) for d in user["days"]] == [(2, 1800.0)]


async def test_usage_refuses_a_backwards_range_and_an_unknown_account(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    backwards = await client.get(
        "/api/v1/accounts/acct-1/usage?from=2026-03-05&to=2026-03-01", headers=bearer(tenant)
    )
    assert backwards.status_code == 400
    assert backwards.json()["code"] == "invalid_range"
    unknown = await client.get("/api/v1/accounts/nope/usage", headers=bearer(tenant))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"


# --- any arrival order -------------------------------------------------------------------


def store(database_url: str, workspace: uuid.UUID, message: dict[str, Any]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            INSERT,
            (
                workspace,
                uuid.uuid4(),
                message["messageId"],
                message["type"],
                datetime.fromisoformat(message["timestamp"]),
                orjson.dumps(message).decode(),
            ),
        )


def new_workspace(database_url: str) -> uuid.UUID:
    workspace = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, str(workspace))
        )
    return workspace


def deliver(
    database_url: str,
    order: list[dict[str, Any]],
    sweep_after: list[bool],
    *,
    rules: SessionRules = DEFAULT_RULES,
    workspace: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store `order` one message at a time (into a new workspace unless one is given); after
    those marked, project and sweep, so later messages arrive into sessions already built (and
    closed: their times are in the past)."""
    workspace = workspace or new_workspace(database_url)

    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            for message, sweep_now in zip(order, sweep_after, strict=True):
                store(database_url, workspace, message)
                if sweep_now:
                    await project_and_sweep(engine, database_url, rules)
            await project_and_sweep(engine, database_url, rules)
        finally:
            await engine.dispose()

    asyncio.run(run())
    return workspace


async def project_and_sweep(
    engine: Any, database_url: str, rules: SessionRules = DEFAULT_RULES
) -> sessions.SweepResult:
    await project_all(engine, database_url)
    return await sessions.sweep(engine, rules=rules)


async def project_all(engine: Any, database_url: str) -> None:
    deadline = time.monotonic() + 30
    while not caught_up(database_url):
        assert time.monotonic() < deadline, "the projector did not catch up"
        await projection.project_next_batch(engine, batch_size=1)


def session_state(database_url: str, workspace: uuid.UUID) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            """SELECT s.session_key, s.started_at, s.ended_at, s.chain_started_at,
                      s.first_message_id, s.events, s.duration_ms, s.modules, s.features,
                      s.closed, s.resolved_user_id, s.resolved_account_id
               FROM sessions s
               WHERE s.workspace_id = %s ORDER BY s.session_key, s.started_at""",
            (workspace,),
        ).fetchall()


EVERYTHING = ACCOUNT + TIMELINE + [BRIDGE]


def test_the_bridging_event_merges_two_closed_sessions(database_url: str) -> None:
    late = deliver(database_url, EVERYTHING, [True] * len(EVERYTHING))
    state = session_state(database_url, late)
    anon = [row for row in state if row[0] == "anon-1"]
    assert [(row[5], row[6]) for row in anon] == [(6, 2_700_000)]  # one session, 45 minutes
    assert all(row[9] for row in state)  # closed


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_duplicates_and_late_events_give_the_sessions_of_ordered_delivery(
    database_url: str, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(EVERYTHING))
    order += data.draw(st.lists(st.sampled_from(EVERYTHING), max_size=4))  # duplicates
    sweeps = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    ordered = deliver(database_url, EVERYTHING, [False] * len(EVERYTHING))
    shuffled = deliver(database_url, order, sweeps)
    assert session_state(database_url, shuffled) == session_state(database_url, ordered)


# A key that never pauses for the timeout: one chain of events 25 minutes apart over 5 hours,
# which sessions of at most 2 hours (the 24-hour cut, scaled down) cut at 0, 125 and 250
# minutes. Two late events land inside the second session and inside the third.
CUT_RULES = SessionRules(max_length=timedelta(hours=2))
CHAIN = [track(f"c-{n:02}", n * 1500, "Reports", anonymousId="anon-c") for n in range(13)]
CHAIN_LATE = [
    track("c-late-1", 8000, "Docs", anonymousId="anon-c"),
    track("c-late-2", 15100, None, anonymousId="anon-c"),
]


def chain_sessions(database_url: str, workspace: uuid.UUID) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT id, started_at, chain_started_at, events FROM sessions "
            "WHERE workspace_id = %s AND session_key = 'anon-c' ORDER BY started_at",
            (workspace,),
        ).fetchall()


def test_a_sweep_rebuilds_from_the_session_an_event_joins_not_from_its_chain(
    database_url: str,
) -> None:
    workspace = deliver(database_url, CHAIN[:-1], [False] * 12, rules=CUT_RULES)
    before = chain_sessions(database_url, workspace)
    assert [(row[1], row[2], row[3]) for row in before] == [
        (T0, T0, 5),
        (T0 + timedelta(minutes=125), T0, 5),
        (T0 + timedelta(minutes=250), T0, 2),
    ]

    # The next event joins the third session: the first two are left as they were (same rows).
    deliver(database_url, CHAIN[-1:], [False], rules=CUT_RULES, workspace=workspace)
    after = chain_sessions(database_url, workspace)
    assert after[:2] == before[:2]
    assert after[2][0] != before[2][0]  # rebuilt
    assert after[2][1:] == (before[2][1], before[2][2], 3)

    # A late event inside the second session rebuilds from there, and the result is what
    # delivering everything in order gives.
    deliver(database_url, CHAIN_LATE, [True, False], rules=CUT_RULES, workspace=workspace)
    rebuilt = chain_sessions(database_url, workspace)
    assert rebuilt[0] == before[0]
    assert rebuilt[1][0] != before[1][0]
    ordered = deliver(
        database_url,
        sorted(CHAIN + CHAIN_LATE, key=lambda m: m["timestamp"]),
        [False] * 15,
        rules=CUT_RULES,
    )
    assert session_state(database_url, workspace) == session_state(database_url, ordered)


def test_a_live_key_goes_on_from_its_latest_session_as_a_rebuild_would_build_it(
    database_url: str,
) -> None:
    """Events in order, a sweep after each: every sweep after the first reads only the new
    event and goes on from the session the previous sweep stored (its 45 s tail taken back),
    across the cuts, and ends where one sweep over all of them ends."""
    rules = SessionRules(max_length=CUT_RULES.max_length, tail=timedelta(seconds=45))
    workspace = new_workspace(database_url)

    async def run() -> list[int]:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            await project_and_sweep(engine, database_url, rules)  # whatever other tests left
            continued = []
            for message in CHAIN:
                store(database_url, workspace, message)
                continued.append((await project_and_sweep(engine, database_url, rules)).continued)
            return continued
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == [0] + [1] * (len(CHAIN) - 1)
    state = session_state(database_url, workspace)
    assert [(row[5], row[6]) for row in state] == [  # events, ms: 25-minute gaps + the tail
        (5, 4 * 1_500_000 + 45_000),
        (5, 4 * 1_500_000 + 45_000),
        (3, 2 * 1_500_000 + 45_000),
    ]
    at_once = deliver(database_url, CHAIN, [False] * len(CHAIN), rules=rules)
    assert state == session_state(database_url, at_once)


def test_a_key_queued_before_its_new_events_is_held_not_written_until_they_commit(
    database_url: str,
) -> None:
    """The projector queues a key already queued at or before its new events without writing
    its row again, but locks it: a sweep claiming while the events' transaction is open skips
    the key, and after the commit takes it with its first time, so the rebuild reads them.
    An earlier event still moves the queued time back."""
    workspace = new_workspace(database_url)
    key = "anon-q"

    def queued() -> tuple[datetime, str] | None:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT since, xmin::text FROM session_dirty "
                "WHERE workspace_id = %s AND session_key = %s",
                (workspace, key),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def log_id(message_id: str) -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT id FROM inbound_messages WHERE workspace_id = %s AND message_id = %s",
                (workspace, message_id),
            ).fetchone()
        assert row is not None
        return int(row[0])

    async def claimed_now(engine: Any) -> list[datetime]:
        async with engine.connect() as conn:  # rolled back: the keys stay queued
            keys = await claim_dirty_keys(conn, 10_000)
        return [k.since for k in keys if (k.workspace_id, k.session_key) == (workspace, key)]

    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            await project_and_sweep(engine, database_url)  # whatever other tests left
            store(database_url, workspace, track("q-1", 0, "Reports", anonymousId=key))
            await project_all(engine, database_url)
            first = queued()
            assert first is not None
            assert first[0] == T0

            store(database_url, workspace, track("q-2", 60, "Reports", anonymousId=key))
            async with engine.connect() as projecting:
                await project_events(projecting, workspace, [log_id("q-2")])
                assert queued() == first  # the same row version: not written again
                assert await claimed_now(engine) == []  # held by the open transaction
                await projecting.commit()
            assert await claimed_now(engine) == [T0]
            assert queued() == first

            store(database_url, workspace, track("q-0", -60, "Docs", anonymousId=key))
            await project_all(engine, database_url)
            moved = queued()
            assert moved is not None
            assert moved[0] == T0 - timedelta(seconds=60)

            await project_and_sweep(engine, database_url)
            assert queued() is None
        finally:
            await engine.dispose()

    asyncio.run(run())
    assert [(row[5], row[1]) for row in session_state(database_url, workspace)] == [
        (3, T0 - timedelta(seconds=60))
    ]


def queued_keys(database_url: str, workspace: uuid.UUID) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT session_key FROM session_dirty WHERE workspace_id = %s ORDER BY 1",
            (workspace,),
        ).fetchall()
    return [row[0] for row in rows]


def advisory_lock_waiters(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_workspace_whose_projector_is_mid_batch_is_swept_when_the_batch_ends(
    database_url: str,
) -> None:
    """A projector that never catches up holds its workspace's lock for every batch but the
    instant between two: the sweep waits for the batch in progress (not for a later sweep)
    and builds the workspace's sessions as soon as it commits."""
    workspace = new_workspace(database_url)

    async def run() -> sessions.SweepResult:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            await project_and_sweep(engine, database_url)  # whatever other tests left
            store(database_url, workspace, track("b-1", 0, "Reports", anonymousId="anon-b"))
            await project_all(engine, database_url)
            assert queued_keys(database_url, workspace) == ["anon-b"]
            async with engine.connect() as batch:  # the projector's batch transaction
                assert await projection.try_lock_workspace(batch, workspace)
                swept = asyncio.create_task(sessions.sweep(engine, rules=DEFAULT_RULES))
                await eventually(
                    lambda: advisory_lock_waiters(database_url),
                    what="the sweep waiting for the batch's lock",
                )
                assert not swept.done()
                await batch.commit()
            return await asyncio.wait_for(swept, timeout=30)
        finally:
            await engine.dispose()

    result = asyncio.run(run())
    assert result.keys == 1
    assert queued_keys(database_url, workspace) == []
    assert [(row[0], row[5]) for row in session_state(database_url, workspace)] == [("anon-b", 1)]


def test_a_workspace_being_replayed_keeps_its_keys_queued_and_the_sweep_goes_on(
    database_url: str,
) -> None:
    """A replay holds the lock for longer than the sweep waits: the sweep builds the other
    workspaces' sessions, leaves the replayed one's keys queued, and a sweep after the replay
    builds them."""
    paused, other = new_workspace(database_url), new_workspace(database_url)

    async def run() -> tuple[sessions.SweepResult, list[str]]:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            await project_and_sweep(engine, database_url)  # whatever other tests left
            store(database_url, paused, track("p-1", 0, "Reports", anonymousId="anon-p"))
            store(database_url, other, track("o-1", 0, "Reports", anonymousId="anon-o"))
            await project_all(engine, database_url)
            async with projection.workspace_paused(engine, paused):  # as `replay` holds it
                during = await sessions.sweep(
                    engine, rules=DEFAULT_RULES, lock_wait=timedelta(milliseconds=300)
                )
                still_queued = queued_keys(database_url, paused)
            await sessions.sweep(engine, rules=DEFAULT_RULES)
            return during, still_queued
        finally:
            await engine.dispose()

    during, still_queued = asyncio.run(run())
    assert during.keys == 1  # the other workspace's key
    assert still_queued == ["anon-p"]
    assert [row[0] for row in session_state(database_url, other)] == ["anon-o"]
    assert [row[0] for row in session_state(database_url, paused)] == ["anon-p"]
    assert queued_keys(database_url, paused) == []


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_of_a_chain_with_cuts_gives_the_sessions_of_ordered_delivery(
    database_url: str, data: st.DataObject
) -> None:
    everything = CHAIN + CHAIN_LATE
    order = data.draw(st.permutations(everything))
    sweeps = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    ordered = deliver(database_url, everything, [False] * len(everything), rules=CUT_RULES)
    shuffled = deliver(database_url, order, sweeps, rules=CUT_RULES)
    assert session_state(database_url, shuffled) == session_state(database_url, ordered)


async def test_reversed_and_duplicated_delivery_give_the_same_usage(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    from tests.support.tenants import create_tenant

    other = await create_tenant(database_url)
    messages = ACCOUNT + TIMELINE + [BRIDGE]
    again = list(reversed(messages)) + random.Random(7).sample(messages, 5)
    for target, batch in ((tenant, messages), (other, again)):
        for message in batch:  # one request each: every event a batch of its own
            await send(client, target, [message])
            await sweep(app)
        await wait_for_events(client, target, len(TIMELINE) + 1)
        await wait_for_account(client, target, "acct-1")
    await sweep(app)

    query = "/api/v1/accounts/acct-1/usage?from=2026-03-02&to=2026-03-02"
    first = (await client.get(query, headers=bearer(tenant))).json()
    second = (await client.get(query, headers=bearer(other))).json()
    assert first == second
    assert first["days"][0]["seconds"] == 2700.0 + 1800.0
