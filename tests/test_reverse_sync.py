"""Reverse sync: pulsegate's values written to the Freshsales fields a workspace chose.

Data goes in through the tracking API, the projector and the session sweep; runs go through
the REST API (or the reverse_sync, where time must be simulated); what Freshsales receives is read
from the emulator over real HTTP.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from pulsegate.reverse_sync.service import ReverseSync
from tests.support.database import Rows
from tests.support.emulator import RunningEmulator, running_emulator
from tests.support.freshsales import SimulatedClock, connect
from tests.support.http import bearer, send
from tests.support.sessions import sweep
from tests.support.tenants import Tenant
from tests.support.waiting import settle


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def group(user: str, account: str, name: str) -> dict[str, Any]:
    traits = {"name": name, "createdAt": "2024-01-01T00:00:00Z"}
    return {
        "type": "group",
        "userId": user,
        "groupId": account,
        "traits": traits,
        "timestamp": ago(7300),
    }


WORKLOAD = [
    group("u-1", "acct-1", "Acme"),
    group("u-2", "acct-2", "Globex"),
    {
        "type": "identify",
        "userId": "u-1",
        "timestamp": ago(7200),
        "traits": {"email": "ann@acme.example", "persona": "Champion"},
    },
    {
        "type": "identify",
        "userId": "u-2",
        "timestamp": ago(7200),
        "traits": {"email": "bob@globex.example"},
    },
    {"type": "identify", "userId": "u-3", "timestamp": ago(7200), "traits": {"first_name": "Cy"}},
    {"type": "track", "userId": "u-1", "event": "Report Viewed", "timestamp": ago(7000)},
    {"type": "track", "userId": "u-1", "event": "Report Viewed", "timestamp": ago(6940)},
    {"type": "track", "userId": "u-2", "event": "Invoice Sent", "timestamp": ago(5000)},
]


async def post_metric(
    client: httpx.AsyncClient, tenant: Tenant, account: str, value: float
) -> None:
    items = [
        {
            "object": "account",
            "id": account,
            "key": "mrr",
            "value": value,
            "date": datetime.now(UTC).date().isoformat(),
        }
    ]
    response = await client.post("/api/v1/metrics", json={"items": items}, headers=bearer(tenant))
    assert response.status_code == 200, response.text


async def workspace_with_data(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(client, tenant, WORKLOAD)
    await settle(client, tenant, rows)
    await sweep(app)
    metric = {"object": "account", "kind": "metric", "key": "mrr", "type": "number"}
    assert (await client.post("/api/v1/fields", json=metric, headers=bearer(tenant))).is_success
    await post_metric(client, tenant, "acct-1", 1200)
    await post_metric(client, tenant, "acct-2", 300)


async def add_rule(client: httpx.AsyncClient, tenant: Tenant, **rule: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/reverse-sync/rules", json=rule, headers=bearer(tenant))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def run(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post("/api/v1/reverse-sync/runs", headers=bearer(tenant))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def writes(emulator: RunningEmulator, since: int) -> list[tuple[str, Any]]:
    return sorted(
        ((r["path"], r["body"]) for r in emulator.state.requests[since:] if r["method"] == "POST"),
        key=lambda pair: str(pair),
    )


def last_seen(rows: Rows, tenant: Tenant, user: str) -> str:
    [row] = rows.query(
        "SELECT last_seen FROM users WHERE workspace_id = %s AND user_id = %s",
        tenant.workspace_id,
        user,
    )
    moment: datetime = row["last_seen"]
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_changed_value_is_sent_once_and_an_unchanged_one_never(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    emulator: RunningEmulator,
) -> None:
    await workspace_with_data(app, client, tenant, rows)
    destination = await connect(client, tenant, emulator)
    rule = {"destination_id": destination}
    await add_rule(
        client,
        tenant,
        **rule,
        source="custom_metric",
        key="mrr",
        target="sales_account",
        field="cf_mrr",
    )
    await add_rule(
        client,
        tenant,
        **rule,
        source="active_users_30d",
        target="sales_account",
        field="cf_active_users",
    )
    await add_rule(
        client, tenant, **rule, source="last_seen", target="contact", field="cf_last_seen"
    )
    await add_rule(
        client,
        tenant,
        **rule,
        source="custom_dimension",
        key="persona",
        target="contact",
        field="job_title",
    )

    before = len(emulator.state.requests)
    first = await run(client, tenant)
    assert first["status"] == "succeeded"
    assert first["counts"] == {
        "considered": 7,
        "unchanged": 0,
        "unmatched": 1,
        "sent": 7,
        "requests": 4,
        "failed": 0,
        "deferred": 0,
    }
    contacts, accounts = "/crm/sales/api/contacts/upsert", "/crm/sales/api/sales_accounts/upsert"
    assert writes(emulator, before) == sorted(
        [
            (
                accounts,
                {
                    "unique_identifier": {"name": "Acme"},
                    "sales_account": {"custom_field": {"cf_mrr": 1200, "cf_active_users": 1}},
                },
            ),
            (
                accounts,
                {
                    "unique_identifier": {"name": "Globex"},
                    "sales_account": {"custom_field": {"cf_mrr": 300, "cf_active_users": 1}},
                },
            ),
            (
                contacts,
                {
                    "unique_identifier": {"emails": "ann@acme.example"},
                    "contact": {
                        "job_title": "Champion",
                        "custom_field": {"cf_last_seen": last_seen(rows, tenant, "u-1")},
                    },
                },
            ),
            (
                contacts,
                {
                    "unique_identifier": {"emails": "bob@globex.example"},
                    "contact": {"custom_field": {"cf_last_seen": last_seen(rows, tenant, "u-2")}},
                },
            ),
        ],
        key=str,
    )

    items = (
        await client.get(f"/api/v1/reverse-sync/runs/{first['id']}/items", headers=bearer(tenant))
    ).json()["items"]
    assert sorted((i["entity_id"], i["status"], i["fields"].get("cf_mrr")) for i in items) == [
        ("acct-1", "sent", 1200),
        ("acct-2", "sent", 300),
        ("u-1", "sent", None),
        ("u-2", "sent", None),
    ]

    before = len(emulator.state.requests)
    second = await run(client, tenant)
    assert (second["counts"]["unchanged"], second["counts"]["sent"]) == (7, 0)
    assert writes(emulator, before) == []

    await post_metric(client, tenant, "acct-1", 1500)  # today's value, replaced
    before = len(emulator.state.requests)
    third = await run(client, tenant)
    assert (third["counts"]["unchanged"], third["counts"]["sent"]) == (6, 1)
    assert writes(emulator, before) == [
        (
            accounts,
            {
                "unique_identifier": {"name": "Acme"},
                "sales_account": {"custom_field": {"cf_mrr": 1500}},
            },
        ),
    ]

    before = len(emulator.state.requests)
    await run(client, tenant)
    assert writes(emulator, before) == []
    runs = (await client.get("/api/v1/reverse-sync/runs", headers=bearer(tenant))).json()["items"]
    assert [r["counts"]["sent"] for r in runs] == [0, 1, 0, 7]  # newest first


async def test_matching_by_a_custom_field_updates_and_never_creates(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    emulator: RunningEmulator,
) -> None:
    await workspace_with_data(app, client, tenant, rows)
    emulator.state.records["sales_accounts"][1] = {
        "id": 1,
        "name": "ACME Inc (CRM name)",
        "custom_field": {"cf_pulsegate_id": "acct-1"},
    }
    destination = await connect(client, tenant, emulator)
    await add_rule(
        client,
        tenant,
        destination_id=destination,
        source="custom_metric",
        key="mrr",
        target="sales_account",
        field="cf_mrr",
        match_field="cf_pulsegate_id",
    )

    before = len(emulator.state.requests)
    first = await run(client, tenant)
    assert (first["status"], first["counts"]["sent"], first["counts"]["failed"]) == (
        "incomplete",
        1,
        1,
    )
    accounts = emulator.state.records["sales_accounts"]
    assert list(accounts) == [1]  # acct-2 has no record to match: none was created
    assert accounts[1]["custom_field"] == {"cf_pulsegate_id": "acct-1", "cf_mrr": 1200}
    assert [
        r["body"]["unique_identifier"]
        for r in emulator.state.requests[before:]
        if r["method"] == "POST"
    ] == [{"cf_pulsegate_id": "acct-1"}, {"cf_pulsegate_id": "acct-2"}]
    items = (
        await client.get(f"/api/v1/reverse-sync/runs/{first['id']}/items", headers=bearer(tenant))
    ).json()["items"]
    assert [(i["entity_id"], i["status"], i["error"]) for i in items] == [
        ("acct-1", "sent", None),
        ("acct-2", "failed", "Name can't be blank"),
    ]

    before = len(emulator.state.requests)
    second = await run(client, tenant)  # the failed value is tried again; the sent one is not
    assert [
        r["body"]["unique_identifier"]
        for r in emulator.state.requests[before:]
        if r["method"] == "POST"
    ] == [{"cf_pulsegate_id": "acct-2"}]
    assert (second["counts"]["unchanged"], second["counts"]["failed"]) == (1, 1)


async def test_a_spent_budget_defers_the_rest_to_the_next_run(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    emulator: RunningEmulator,
) -> None:
    await workspace_with_data(app, client, tenant, rows)
    destination = await connect(client, tenant, emulator, per_minute=1)
    await add_rule(
        client,
        tenant,
        destination_id=destination,
        source="custom_metric",
        key="mrr",
        target="sales_account",
        field="cf_mrr",
    )
    clock = SimulatedClock()
    reverse_sync = ReverseSync(app.state.engine, app.state.secret_box, clock=clock)

    before = len(emulator.state.requests)
    first = await reverse_sync.run(tenant.workspace_id, trigger="test")
    assert first.status == "incomplete"
    assert (first.counts.sent, first.counts.deferred) == (1, 1)
    assert [r["body"]["unique_identifier"] for r in emulator.state.requests[before:]] == [
        {"name": "Acme"}  # the budget refused the second before anything was sent
    ]

    clock.now += timedelta(seconds=61)
    before = len(emulator.state.requests)
    second = await reverse_sync.run(tenant.workspace_id, trigger="test")
    assert (second.status, second.counts.sent, second.counts.unchanged) == ("succeeded", 1, 1)
    assert [r["body"]["unique_identifier"] for r in emulator.state.requests[before:]] == [
        {"name": "Globex"}
    ]


async def test_one_run_per_workspace_at_a_time(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    key = zlib.crc32(f"pulsegate-reverse-sync:{tenant.workspace_id}".encode())
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        response = await client.post("/api/v1/reverse-sync/runs", headers=bearer(tenant))
        assert (response.status_code, response.json()["code"]) == (409, "run_in_progress")
    assert (await run(client, tenant))["status"] == "succeeded"  # nothing to do, and free again


async def test_rules_are_checked_listed_and_removed(
    client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator
) -> None:
    destination = await connect(client, tenant, emulator)
    metric = {"object": "account", "kind": "metric", "key": "mrr", "type": "number"}
    await client.post("/api/v1/fields", json=metric, headers=bearer(tenant))
    base = {"destination_id": destination, "target": "sales_account", "field": "cf_x"}
    refusals = [
        ({"source": "karma"}, "unknown_source"),
        ({"source": "active_users_30d", "target": "contact"}, "source_not_for_target"),
        ({"source": "custom_metric"}, "invalid_key"),
        ({"source": "last_seen", "key": "mrr"}, "invalid_key"),
        ({"source": "custom_metric", "key": "arr"}, "unknown_field"),
        ({"source": "last_seen", "match_field": "website"}, "invalid_match_field"),
        (
            {"source": "last_seen", "target": "contact", "match_field": "name"},
            "invalid_match_field",
        ),
        (
            {"source": "last_seen", "destination_id": "00000000-0000-4000-8000-000000000000"},
            "unknown_destination",
        ),
        ({"source": "last_seen", "field": "Not A Field"}, "invalid_request"),
    ]
    for change, code in refusals:
        response = await client.post(
            "/api/v1/reverse-sync/rules", json={**base, **change}, headers=bearer(tenant)
        )
        assert (response.status_code, response.json()["code"]) == (400, code), (
            change,
            response.json(),
        )

    created = await add_rule(client, tenant, **base, source="custom_metric", key="mrr")
    assert created["match_field"] == "name"
    again = await client.post(
        "/api/v1/reverse-sync/rules", json={**base, "source": "last_seen"}, headers=bearer(tenant)
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_exists")
    listed = (await client.get("/api/v1/reverse-sync/rules", headers=bearer(tenant))).json()
    assert [r["id"] for r in listed["items"]] == [created["id"]]

    path = f"/api/v1/reverse-sync/rules/{created['id']}"
    assert (await client.delete(path, headers=bearer(tenant))).status_code == 204
    gone = await client.delete(path, headers=bearer(tenant))
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
