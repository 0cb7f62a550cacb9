"""The outbox to Freshsales: messages in, emulator requests out, through storms and outages."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from segment.analytics.client import Client as SegmentClient

from pulsegate.destinations.outbox import Outbox
from tests.support.database import Rows
from tests.support.emulator import RunningEmulator, running_emulator
from tests.support.freshsales import SimulatedClock, connect, deliveries
from tests.support.http import bearer, send
from tests.support.servers import LiveServer, cli_json, new_tenant
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import eventually


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


def identify(user: int, version: int) -> dict[str, Any]:
    traits = {"email": f"user{user}@acme.com", "first_name": f"u{user}-v{version}"}
    return {
        "type": "identify",
        "userId": f"u-{user}",
        "messageId": f"id-{user}-{version}",
        "traits": traits,
    }


@pytest.mark.usefixtures("sole_delivery_job")
async def test_a_ten_minute_storm_loses_nothing_and_keeps_under_the_plan(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator
) -> None:
    plan_per_minute = 20
    destination = await connect(client, tenant, emulator, per_minute=plan_per_minute)
    # Five versions of eight users, interleaved: each contact must see its own in order.
    await send(client, tenant, [identify(u, v) for v in range(5) for u in range(8)])
    await deliveries(client, tenant, destination, 40)

    clock = SimulatedClock()
    emulator.state.clock = lambda: clock.now.timestamp()
    outbox = Outbox(app.state.engine, app.state.secret_box, clock=clock)
    storm = random.Random(4)
    started = clock.now
    while clock.now - started < timedelta(minutes=40):
        storming = clock.now - started < timedelta(minutes=10)
        emulator.state.faults.fail_next = storm.randint(0, 4) if storming else 0
        emulator.state.faults.fail_status = storm.choice([429, 500, 502, 503])
        await outbox.deliver_due()
        states = Counter(d["status"] for d in await deliveries(client, tenant, destination, 40))
        if states == {"sent": 40}:
            break
        clock.now += timedelta(seconds=5)
    assert states == {"sent": 40}

    sent = [r for r in emulator.state.requests if r["path"].endswith("contacts/upsert")]
    landed = Counter(r["body"]["contact"]["first_name"] for r in sent if r["status"] < 300)
    assert landed == Counter({f"u{u}-v{v}": 1 for u in range(8) for v in range(5)})  # once each
    contacts = emulator.state.records["contacts"].values()
    assert sorted(c["first_name"] for c in contacts) == [f"u{u}-v4" for u in range(8)]  # in order
    statuses = Counter(r["status"] for r in emulator.state.requests)
    assert statuses[429] > 0
    assert sum(n for status, n in statuses.items() if status >= 500) > 0
    times = sorted(r["at"] for r in emulator.state.requests)
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= plan_per_minute


@pytest.mark.usefixtures("sole_delivery_job")
async def test_deliveries_die_after_the_retry_window_and_can_be_retried(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator
) -> None:
    destination = await connect(client, tenant, emulator, retry_hours=0.01)  # 36 seconds
    await send(client, tenant, [identify(1, 0)])
    [queued] = await deliveries(client, tenant, destination, 1)
    clock = SimulatedClock()
    outbox = Outbox(app.state.engine, app.state.secret_box, clock=clock)
    emulator.state.faults.fail_next = 10_000
    for _ in range(30):
        await outbox.deliver_due()
        clock.now += timedelta(seconds=5)
    [dead] = await deliveries(client, tenant, destination, 1)
    assert dead["status"] == "dead"
    assert dead["attempts"] > 1
    assert "Service temporarily unavailable" in dead["last_error"]

    emulator.state.faults.fail_next = 0
    retried = await client.post(
        f"/api/v1/destinations/{destination}/deliveries/{queued['id']}/retry",
        headers=bearer(tenant),
    )
    assert retried.json()["status"] == "pending"
    await outbox.deliver_due()
    [sent] = await deliveries(client, tenant, destination, 1)
    assert (sent["status"], sent["last_error"]) == ("sent", None)
    again = await client.post(
        f"/api/v1/destinations/{destination}/deliveries/{queued['id']}/retry",
        headers=bearer(tenant),
    )
    assert (again.status_code, again.json()["code"]) == (404, "not_found")


@pytest.mark.usefixtures("sole_delivery_job")
async def test_a_delivery_concluded_while_it_is_sent_keeps_its_conclusion(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator, rows: Rows
) -> None:
    """The outbox records its outcome only on the row as it read it: a delivery that dies
    while its request is out (here by hand) stays dead, its attempts uncounted."""
    destination = await connect(client, tenant, emulator)
    await send(client, tenant, [identify(1, 0)])
    [queued] = await deliveries(client, tenant, destination, 1)
    emulator.state.faults.delay_seconds = 0.5
    sending = asyncio.create_task(Outbox(app.state.engine, app.state.secret_box).deliver_due())
    await eventually(lambda: emulator.state.requests, what="the first request to Freshsales")
    [concluded] = rows.query(
        "UPDATE deliveries SET status = 'dead', last_error = 'given up by hand' "
        "WHERE id = %s AND status = 'pending' RETURNING id",
        queued["id"],
    )
    run = await sending
    assert (run.sent, run.retried, run.dead) == (0, 0, 0)
    assert emulator.state.requests  # the request went out: only its record is withheld
    [kept] = await deliveries(client, tenant, destination, 1)
    assert (kept["id"], kept["status"], kept["attempts"], kept["last_error"]) == (
        concluded["id"],
        "dead",
        0,
        "given up by hand",
    )


@pytest.mark.usefixtures("sole_delivery_job")
async def test_a_message_that_cannot_be_forwarded_is_rejected_with_its_reason(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator
) -> None:
    destination = await connect(client, tenant, emulator, message_types=["identify", "group"])
    await send(
        client,
        tenant,
        [
            {"type": "identify", "userId": "u-9", "messageId": "no-email", "traits": {"name": "x"}},
            {"type": "group", "userId": "u-9", "groupId": "g", "messageId": "no-name"},
            {"type": "track", "userId": "u-9", "event": "Not Forwarded", "messageId": "track"},
        ],
    )
    queued = await deliveries(client, tenant, destination, 2)
    outbox = Outbox(app.state.engine, app.state.secret_box)
    await outbox.deliver_due()  # one message per user and run: the user's first
    await outbox.deliver_due()
    rejected = (
        await client.get(
            f"/api/v1/destinations/{destination}/deliveries?status=rejected", headers=bearer(tenant)
        )
    ).json()["items"]
    assert sorted((d["message_id"], d["last_error"]) for d in rejected) == [
        ("no-email", 'Missing required value from "emailOnly"'),
        ("no-name", 'Missing required value from "name"'),
    ]
    assert len(queued) == 2  # the track call is not a type this destination forwards
    assert emulator.state.requests[-1]["path"].endswith("/fields")  # nothing was written


def test_segment_sdk_in_freshsales_request_out_through_a_running_server(
    live_server: LiveServer, emulator: RunningEmulator, rows: Rows
) -> None:
    """docs/reference/freshsales.md §B9 case 1 end to end: the unmodified SDK, `pulsegate serve`
    with its outbox job, and the emulator receiving the upsert."""
    source = new_tenant(live_server)
    api_key = cli_json(live_server.env, "apikey", "create", source["workspace_id"])["api_key"]
    created = httpx.post(
        f"{live_server.url}/api/v1/destinations",
        json={
            "kind": "freshsales",
            "name": "crm",
            "domain": emulator.url + "/",
            "api_key": "test-key",
        },
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert created.status_code == 201, created.text
    sdk = SegmentClient(source["write_key"], host=live_server.url, sync_mode=True)
    sdk.identify(
        None,
        {
            "email": "testuser@google.com",
            "first_name": "Rk",
            "last_name": "Mishra",
            "mobileNumber": "1-926-555-9504",
            "lifecycleStageId": 71010794467,
            "phone": "9988776655",
            "owner_id": "70000090119",
        },
        anonymous_id="ea5cfab2-3961-4d8a-8187-3d1858c99099",
    )

    deadline = time.monotonic() + 30
    while not (
        upserts := [
            r for r in emulator.state.requests if r["path"] == "/crm/sales/api/contacts/upsert"
        ]
    ):
        assert time.monotonic() < deadline, "nothing reached the emulator"
        time.sleep(0.2)
    [stored] = [
        m["message"]
        for m in rows.query(
            "SELECT message FROM inbound_messages WHERE workspace_id = %s", source["workspace_id"]
        )
    ]
    assert upserts[0]["body"] == {
        "contact": {
            "emails": "testuser@google.com",
            "first_name": "Rk",
            "last_name": "Mishra",
            "work_number": "9988776655",
            "external_id": "ea5cfab2-3961-4d8a-8187-3d1858c99099",
            "mobile_number": "1-926-555-9504",
            "lifecycle_stage_id": 71010794467,
            "created_at": stored["timestamp"],
            "updated_at": stored["timestamp"],
        },
        "unique_identifier": {"emails": "testuser@google.com"},
    }


@pytest.mark.usefixtures("sole_delivery_job")
async def test_one_destination_that_cannot_be_called_holds_up_no_other(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    emulator: RunningEmulator,
    rows: Rows,
    database_url: str,
) -> None:
    """A destination whose stored key cannot even be sent (not ASCII, from before keys were
    checked) fails its own deliveries, with the reason; the other's are sent in the same run."""
    broken_tenant = await create_tenant(database_url)
    broken = await connect(client, broken_tenant, emulator)
    rows.query(
        "UPDATE destinations SET api_key_encrypted = %s WHERE id = %s RETURNING 1",
        app.state.secret_box.encrypt("clé-ünicode"),
        broken,
    )
    good = await connect(client, tenant, emulator)
    for owner in (broken_tenant, tenant):
        await send(client, owner, [identify(1, 1)])
    await deliveries(client, broken_tenant, broken, 1)
    await deliveries(client, tenant, good, 1)

    # The shared database may hold other tests' due deliveries too: this run meets them all.
    await Outbox(app.state.engine, app.state.secret_box).deliver_due()
    [failed] = await deliveries(client, broken_tenant, broken, 1)
    assert failed["status"] == "pending"
    assert failed["last_error"].startswith("UnicodeEncodeError")
    [sent] = await deliveries(client, tenant, good, 1)
    assert sent["status"] == "sent"
    refused = await client.post(
        "/api/v1/destinations",
        json={
            "kind": "freshsales",
            "name": "x",
            "domain": "acme.myfreshworks.com",
            "api_key": "clé",
        },
        headers=bearer(tenant),
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_request")
