"""The projector: events from the log, in a safe order, idempotent, never blocked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import create_engine
from pulsegate.projection import service
from pulsegate.settings import Settings
from tests.support.database import Rows, failing_inserts
from tests.support.http import basic
from tests.support.tenants import Tenant
from tests.support.waiting import eventually


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    yield engine
    await engine.dispose()


async def project_until(engine: AsyncEngine, done: Callable[[], bool], timeout: float = 10) -> None:
    """Run the projector until `done()`; another projector (a live server) may share the work."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the projector did not get there in time"
        if await service.project_next_batch(engine) == 0:
            await asyncio.sleep(0.05)


def events(rows: Rows, tenant: Tenant) -> list[dict[str, Any]]:
    return rows.query(
        "SELECT * FROM events WHERE workspace_id = %s ORDER BY timestamp, message_id",
        tenant.workspace_id,
    )


def failures(rows: Rows, tenant: Tenant) -> list[dict[str, Any]]:
    return rows.query(
        "SELECT inbound_message_id, error FROM projection_failures WHERE workspace_id = %s",
        tenant.workspace_id,
    )


async def test_track_page_and_screen_become_events(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, engine: AsyncEngine
) -> None:
    batch = [
        {
            "type": "track",
            "userId": "u-1",
            "event": "Widget Added",
            "messageId": "t-1",
            "properties": {"module": "Dashboard", "widget": "chart"},
            "context": {"groupId": "acct-1"},
            "timestamp": "2026-01-01T10:00:00Z",
        },
        {
            "type": "page",
            "anonymousId": "a-1",
            "name": "Pricing",
            "category": "Marketing",
            "messageId": "p-1",
            "properties": {"path": "/pricing"},
            "timestamp": "2026-01-01T10:01:00Z",
        },
        {
            "type": "screen",
            "userId": "u-1",
            "name": "Home",
            "messageId": "s-1",
            "groupId": "acct-2",
            "timestamp": "2026-01-01T10:02:00Z",
        },
        {"type": "identify", "userId": "u-1", "traits": {"email": "a@example.com"}},
        {"type": "group", "userId": "u-1", "groupId": "acct-1"},
    ]
    response = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.json() == {"success": True}
    await project_until(engine, lambda: len(events(rows, tenant)) == 3)
    track, page, screen = events(rows, tenant)
    assert (track["type"], track["name"], track["module"], track["account_id"]) == (
        "track",
        "Widget Added",
        "Dashboard",
        "acct-1",
    )
    assert track["properties"] == {"module": "Dashboard", "widget": "chart"}
    assert (page["name"], page["category"], page["anonymous_id"], page["user_id"]) == (
        "Pricing",
        "Marketing",
        "a-1",
        None,
    )
    assert (screen["name"], screen["account_id"], screen["properties"]) == ("Home", "acct-2", {})


async def test_projecting_again_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, engine: AsyncEngine
) -> None:
    for number in range(5):
        await client.post(
            "/v1/track",
            json={"userId": "u", "event": f"e{number}", "messageId": f"again-{number}"},
            headers=basic(tenant.write_key),
        )
    await project_until(engine, lambda: len(events(rows, tenant)) == 5)
    before = events(rows, tenant)
    rows.query(
        "UPDATE projector_positions SET last_id = 0 WHERE workspace_id = %s RETURNING last_id",
        tenant.workspace_id,
    )
    await project_until(engine, lambda: rows.projected(tenant.workspace_id))
    assert events(rows, tenant) == before
    assert failures(rows, tenant) == []  # the batch was applied whole, not message by message


async def test_a_message_stored_twice_in_the_log_is_one_event_and_its_batch_goes_on(
    tenant: Tenant, rows: Rows, engine: AsyncEngine
) -> None:
    """A message sent again after the dedup window is in the log twice. The batch that holds
    both is first inserted as all new; the unique constraint refuses the second copy, and
    the batch is inserted again skipping it: every other event of the batch is stored."""
    rows.query(
        """
        INSERT INTO inbound_messages
            (workspace_id, source_id, message_id, type, received_at, timestamp, message)
        SELECT %s, %s, id, 'track', now(), '2026-11-02T10:00:00Z',
               jsonb_build_object('type', 'track', 'userId', 'u-' || id, 'event', 'E')
        FROM unnest(ARRAY['resent', 'other-1', 'resent', 'other-2']) WITH ORDINALITY AS t(id, n)
        ORDER BY n
        RETURNING id
        """,
        tenant.workspace_id,
        tenant.source_id,
    )
    await project_until(engine, lambda: rows.projected(tenant.workspace_id))
    assert [e["message_id"] for e in events(rows, tenant)] == ["other-1", "other-2", "resent"]
    queued = rows.query(
        "SELECT session_key FROM session_dirty WHERE workspace_id = %s ORDER BY session_key",
        tenant.workspace_id,
    )
    assert [q["session_key"] for q in queued] == ["u-other-1", "u-other-2", "u-resent"]
    assert failures(rows, tenant) == []


INSERT_INBOUND = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
VALUES (%s, %s, %s, 'track', now(), now(),
        jsonb_build_object('type', 'track', 'userId', 'u', 'event', %s::text))
RETURNING id
"""


@pytest.fixture
def connections(database_url: str) -> Iterator[tuple[psycopg.Connection, psycopg.Connection]]:
    with psycopg.connect(database_url) as first, psycopg.connect(database_url) as second:
        yield first, second


async def test_a_row_committed_late_with_a_lower_id_is_not_skipped(
    tenant: Tenant,
    rows: Rows,
    engine: AsyncEngine,
    connections: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    """Two writers: `slow` draws the lower id but commits after `fast` (higher id)."""
    slow, fast = connections
    [(slow_id,)] = slow.execute(
        INSERT_INBOUND, (tenant.workspace_id, tenant.source_id, "slow", "slow")
    ).fetchall()
    [(fast_id,)] = fast.execute(
        INSERT_INBOUND, (tenant.workspace_id, tenant.source_id, "fast", "fast")
    ).fetchall()
    assert slow_id < fast_id
    fast.commit()
    for _ in range(5):
        await service.project_next_batch(engine)
    # Following ids past `fast` now would skip `slow` for good: the watermark waits instead.
    assert events(rows, tenant) == []
    slow.commit()
    await project_until(engine, lambda: len(events(rows, tenant)) == 2)
    assert [e["name"] for e in events(rows, tenant)] == ["slow", "fast"]


async def test_transactions_that_do_not_write_the_log_hold_nothing_back(
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    admin_database_url: str,
    database_url: str,
) -> None:
    """A transaction open on another database of the server, and one writing another table of
    pulsegate's own, both with a transaction id (the old `pg_snapshot_xmin` horizon), while
    messages arrive: the app's projector applies them all the same."""
    with (
        psycopg.connect(admin_database_url) as elsewhere,
        psycopg.connect(database_url) as unrelated,
    ):
        elsewhere.execute("CREATE TEMPORARY TABLE held (n int)")
        elsewhere.execute("INSERT INTO held VALUES (1)")
        unrelated.execute(
            "INSERT INTO job_runs (job, trigger, status, started_at, host) "
            "VALUES ('held-open', 'manual', 'running', now(), 'test')"
        )
        for xid_holder in (elsewhere, unrelated):
            assert xid_holder.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()
        for round_number in range(3):
            await client.post(
                "/v1/track",
                json={"userId": "u", "event": "e", "messageId": f"held-{round_number}"},
                headers=basic(tenant.write_key),
            )
            await eventually(
                lambda n=round_number: len(events(rows, tenant)) == n + 1,
                what="projection beside transactions that do not write the log",
            )
        assert elsewhere.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert unrelated.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        unrelated.rollback()


async def test_a_row_of_a_transaction_still_running_holds_back_later_ones(
    tenant: Tenant,
    rows: Rows,
    engine: AsyncEngine,
    connections: tuple[psycopg.Connection, psycopg.Connection],
) -> None:
    open_one, later = connections
    open_one.execute(INSERT_INBOUND, (tenant.workspace_id, tenant.source_id, "open", "open"))
    later.execute(INSERT_INBOUND, (tenant.workspace_id, tenant.source_id, "later", "later"))
    later.commit()
    for _ in range(5):
        await service.project_next_batch(engine)
    assert events(rows, tenant) == []  # not yet: an older transaction may still add rows
    open_one.commit()
    await project_until(engine, lambda: len(events(rows, tenant)) == 2)


@pytest.fixture
def exploding_events(database_url: str) -> Iterator[None]:
    with failing_inserts(database_url, table="events", prefix="explode-"):
        yield


@pytest.mark.usefixtures("exploding_events")
async def test_a_message_that_cannot_be_applied_is_recorded_and_the_rest_go_on(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, engine: AsyncEngine
) -> None:
    batch = [
        {"type": "track", "userId": "u", "event": "e", "messageId": message_id}
        for message_id in ("before", "explode-1", "after")
    ]
    await client.post("/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key))
    await project_until(engine, lambda: len(events(rows, tenant)) == 2)
    assert [e["message_id"] for e in events(rows, tenant)] == ["after", "before"]
    [failure] = rows.query(
        "SELECT f.error, m.message_id FROM projection_failures f "
        "JOIN inbound_messages m ON m.id = f.inbound_message_id WHERE f.workspace_id = %s",
        tenant.workspace_id,
    )
    assert failure["message_id"] == "explode-1"
    assert "forced failure for explode-1" in failure["error"]
