"""Freshsales connectors against the emulator over real HTTP: catalog, runs to all three
targets, metric history over days, incremental pulls, filters, unmatched records, 429 storms."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from freshsales_emulator.data import DEFAULT_FIELDS
from pulsegate.connectors.sync import ConnectorSync
from tests.support.connectors import (
    MAPPINGS,
    MATCH,
    PLAN_FIELD,
    account,
    create,
    history,
    issues,
    run_now,
)
from tests.support.emulator import RunningEmulator, running_emulator
from tests.support.http import bearer
from tests.support.tenants import Tenant

SALES_ACCOUNTS = [
    {
        "name": "Acme Corp",
        "updated_at": "2026-11-20T10:00:00+00:00",
        "custom_field": {"cf_pulsegate_id": "acme", "cf_mrr": 1500, "cf_plan": "pro"},
    },
    {
        "name": "Globex",
        "updated_at": "2026-11-20T11:00:00+00:00",
        "custom_field": {"cf_pulsegate_id": "globex", "cf_mrr": "2300.50", "cf_plan": "enterprise"},
    },
    # pulsegate has an account "12345": exact text never matches "12345.0"
    {
        "name": "Float Id Ltd",
        "updated_at": "2026-11-20T12:00:00+00:00",
        "custom_field": {"cf_pulsegate_id": "12345.0", "cf_mrr": 10, "cf_plan": "pro"},
    },
    {
        "name": "Initech",
        "updated_at": "2026-11-20T13:00:00+00:00",
        "custom_field": {"cf_pulsegate_id": "initech", "cf_mrr": "n/a", "cf_plan": "basic"},
    },
]
CONTACTS = [
    {
        "emails": [{"value": "Ana@Acme.example", "is_primary": True}],
        "job_title": "CTO",
        "updated_at": "2026-11-20T10:00:00+00:00",
    },
    {
        "emails": [{"value": "nobody@nowhere.example", "is_primary": True}],
        "job_title": "CEO",
        "updated_at": "2026-11-20T10:00:00+00:00",
    },
]


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        running.state.fields["sales_accounts"].append(PLAN_FIELD)
        for entity, records in (("sales_accounts", SALES_ACCOUNTS), ("contacts", CONTACTS)):
            put(running, entity, records)
        yield running


def put(emulator: RunningEmulator, entity: str, records: list[dict[str, Any]]) -> list[int]:
    response = httpx.post(f"{emulator.url}/_emulator/records/{entity}", json={"records": records})
    assert response.status_code == 200, response.text
    ids: list[int] = response.json()
    return ids


def prospects(emulator: RunningEmulator, *, updated_at: str) -> None:
    """246 more sales accounts that pulsegate does not know: 250 in all, three pages."""
    put(
        emulator,
        "sales_accounts",
        [
            {
                "name": f"Prospect {n}",
                "updated_at": updated_at,
                "custom_field": {"cf_pulsegate_id": f"prospect-{n}", "cf_mrr": n},
            }
            for n in range(246)
        ],
    )


def received(emulator: RunningEmulator, *, since: int = 0) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests[since:] if "/_emulator" not in r["path"]]


def freshsales(emulator: RunningEmulator, **options: Any) -> dict[str, Any]:
    return {
        "kind": "freshsales",
        "name": "crm",
        "domain": emulator.url,
        "api_key": "test-key",
        "mappings": MAPPINGS,
        "match": MATCH,
        **options,
    }


async def test_the_field_catalog_lists_every_field_as_a_spreadsheet(
    client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator, connectors: list[str]
) -> None:
    connector = await create(client, tenant, connectors, freshsales(emulator))
    response = await client.get(
        f"/api/v1/connectors/{connector['id']}/fields?format=csv", headers=bearer(tenant)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["object", "name", "label", "type", "standard"]
    expected = [
        [obj, f["name"], f["label"], f["type"], "standard" if f["default"] else "custom"]
        for obj, entity in (("account", "sales_accounts"), ("user", "contacts"))
        for f in [*DEFAULT_FIELDS[entity], *([PLAN_FIELD] if obj == "account" else [])]
    ]
    assert table[1:] == expected
    assert ["account", "cf_mrr", "MRR", "number", "custom"] in table
    assert ["user", "job_title", "Job title", "text", "standard"] in table

    as_json = await client.get(
        f"/api/v1/connectors/{connector['id']}/fields", headers=bearer(tenant)
    )
    assert [[i["object"], i["name"]] for i in as_json.json()["items"]] == [
        row[:2] for row in expected
    ]


async def test_a_full_run_fills_account_dimensions_metrics_and_user_dimensions(
    client: httpx.AsyncClient,
    tenant: Tenant,
    crm: None,
    emulator: RunningEmulator,
    connectors: list[str],
) -> None:
    connector = await create(client, tenant, connectors, freshsales(emulator))
    assert connector["mappings"][0] == {
        "field": "cf_plan",
        "target": "account_dimension",
        "key": "plan",
        "type": "string",
    }
    assert connector["mappings"][1]["type"] == "number"

    run = await run_now(client, tenant, connector["id"])

    assert run["status"] == "succeeded", run
    assert run["full"] is True
    assert run["counts"] == {
        "fetched": 6,
        "filtered": 0,
        "matched": 4,
        "unmatched": 2,
        "updated": 4,
        "invalid": 1,
        "carried_forward": 0,
    }
    assert run["progress"]["object"] == "user"
    assert run["progress"]["fetched"] == 6
    today = datetime.now(UTC).date().isoformat()
    acme, globex, initech = [
        await account(client, tenant, a) for a in ("acme", "globex", "initech")
    ]
    assert (acme["custom"]["plan"], globex["custom"]["plan"]) == ("pro", "enterprise")
    assert await history(client, tenant, "acme") == [(today, 1500)]
    assert await history(client, tenant, "globex") == [(today, 2300.5)]
    # Initech's MRR "n/a" is refused, its plan still lands.
    assert initech["custom"]["plan"] == "basic"
    assert await history(client, tenant, "initech") == []
    user = (await client.get("/api/v1/users/ana", headers=bearer(tenant))).json()
    assert user["custom"]["job"] == "CTO"  # matched by email, whatever its case

    found = await issues(client, tenant, connector["id"], run["id"])
    assert sorted((i["kind"], i["object"], i["field"], i["value"]) for i in found) == [
        ("invalid", "account", "cf_mrr", "n/a"),
        ("unmatched", "account", "cf_pulsegate_id", "12345.0"),
        ("unmatched", "user", "emails", "nobody@nowhere.example"),
    ]
    unmatched = next(i for i in found if i["value"] == "12345.0")
    assert unmatched["reason"] == "no account has id '12345.0'"
    assert unmatched["record_id"] is not None

    # In full again the same day: the same records match, and nothing changes.
    again = await run_now(client, tenant, connector["id"], full=True)
    assert again["counts"]["updated"] == 0
    assert again["counts"]["matched"] == 4
    assert await history(client, tenant, "acme") == [(today, 1500)]
    paths = [r["path"] for r in received(emulator)]
    assert "/crm/sales/api/sales_accounts/view/1" in paths  # the first pull lists "All …"


class Days:
    """A clock standing still on a chosen day."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_run_on_another_day_pulls_only_changes_and_extends_metric_history(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    crm: None,
    emulator: RunningEmulator,
    connectors: list[str],
) -> None:
    connector_id = uuid.UUID((await create(client, tenant, connectors, freshsales(emulator)))["id"])
    days = Days()
    sync = ConnectorSync(app.state.engine, app.state.secret_box, clock=days)
    first = await sync.run(tenant.workspace_id, connector_id, trigger="test")
    assert first.status == "succeeded"
    assert first.counts.matched == 4
    [globex_id] = [
        i for i, r in emulator.state.records["sales_accounts"].items() if r["name"] == "Globex"
    ]
    put(
        emulator,
        "sales_accounts",
        [
            {
                "id": globex_id,
                "updated_at": "2026-11-21T09:00:00-04:00",
                "custom_field": {"cf_mrr": 2400},
            }
        ],
    )
    mark = len(emulator.state.requests)

    days.now += timedelta(days=1)
    second = await sync.run(tenant.workspace_id, connector_id, trigger="test")

    assert second.status == "succeeded"
    assert second.full is False
    assert (second.counts.fetched, second.counts.matched, second.counts.updated) == (1, 1, 1)
    assert second.counts.carried_forward == 1  # Acme's MRR did not change: it still holds
    searches = [r for r in received(emulator, since=mark) if "filtered_search" in r["path"]]
    assert [r["path"] for r in searches] == [
        "/crm/sales/api/filtered_search/sales_account",
        "/crm/sales/api/filtered_search/contact",
    ]
    assert searches[0]["body"] == {
        "filter_rule": [
            {
                "attribute": "updated_at",
                "operator": "is_after",
                "value": "2026-11-20T13:00:00+00:00",
            }
        ],
        "sort": "updated_at",
        "sort_type": "asc",
    }
    assert searches[0]["query"] == {"page": "1", "per_page": "100"}
    assert await history(client, tenant, "globex") == [("2026-11-20", 2300.5), ("2026-11-21", 2400)]
    assert await history(client, tenant, "acme") == [("2026-11-20", 1500), ("2026-11-21", 1500)]

    third = await sync.run(tenant.workspace_id, connector_id, trigger="test")  # same day
    assert (third.counts.fetched, third.counts.updated, third.counts.carried_forward) == (0, 0, 0)
    assert await history(client, tenant, "globex") == [("2026-11-20", 2300.5), ("2026-11-21", 2400)]
    stored = await client.get(f"/api/v1/connectors/{connector_id}", headers=bearer(tenant))
    assert stored.json()["state"]["account_updated_at"] == "2026-11-21T09:00:00-04:00"


async def test_filters_limit_the_sync_to_a_view_or_to_filter_rules(
    client: httpx.AsyncClient,
    tenant: Tenant,
    crm: None,
    emulator: RunningEmulator,
    connectors: list[str],
) -> None:
    account_only = [m for m in MAPPINGS if m["target"].startswith("account")]
    rules = {
        "account": {
            "rules": [{"attribute": "cf_plan", "operator": "is_in", "value": ["enterprise"]}]
        }
    }
    by_rules = await create(
        client,
        tenant,
        connectors,
        freshsales(emulator, name="rules", mappings=account_only, filters=rules),
    )
    run = await run_now(client, tenant, by_rules["id"])
    assert (run["counts"]["fetched"], run["counts"]["matched"]) == (1, 1)
    search = next(r for r in received(emulator) if "filtered_search" in r["path"])
    assert search["body"]["filter_rule"] == rules["account"]["rules"]
    assert (await account(client, tenant, "globex"))["custom"]["plan"] == "enterprise"
    assert "plan" not in (await account(client, tenant, "acme"))["custom"]

    view = httpx.post(
        f"{emulator.url}/_emulator/views/sales_accounts",
        json={
            "name": "Pro accounts",
            "filter_rule": [{"attribute": "cf_plan", "operator": "is", "value": "pro"}],
        },
    ).json()
    by_view = await create(
        client,
        tenant,
        connectors,
        freshsales(
            emulator,
            name="view",
            mappings=account_only,
            filters={"account": {"view_id": view["id"]}},
        ),
    )
    mark = len(emulator.state.requests)
    run = await run_now(client, tenant, by_view["id"])
    assert (run["counts"]["fetched"], run["counts"]["matched"]) == (2, 1)  # acme, 12345.0
    listed = [r for r in received(emulator, since=mark) if "/view/" in r["path"]]
    assert [r["path"] for r in listed] == [f"/crm/sales/api/sales_accounts/view/{view['id']}"]
    assert listed[0]["query"]["sort"] == "updated_at"
    assert (await account(client, tenant, "acme"))["custom"]["plan"] == "pro"


async def test_a_429_storm_mid_run_is_waited_out_and_nothing_is_lost(
    client: httpx.AsyncClient,
    tenant: Tenant,
    crm: None,
    emulator: RunningEmulator,
    connectors: list[str],
) -> None:
    prospects(emulator, updated_at="2026-11-19T00:00:00+00:00")
    connector = await create(
        client, tenant, connectors, freshsales(emulator, mappings=MAPPINGS[:2])
    )
    # Catalog (2 requests), the views, page 1: then page 2 is refused three times.
    faults = emulator.state.faults
    faults.fail_after, faults.fail_next, faults.fail_status, faults.retry_after = 4, 3, 429, 1
    mark = len(emulator.state.requests)

    run = await run_now(client, tenant, connector["id"])

    assert run["status"] == "succeeded", run
    assert (run["counts"]["fetched"], run["counts"]["matched"]) == (250, 3)
    assert run["counts"]["unmatched"] == 247
    pages = [
        (r["query"].get("page"), r["status"])
        for r in received(emulator, since=mark)
        if "/view/" in r["path"]
    ]
    assert pages == [("1", 200), ("2", 429), ("2", 429), ("2", 429), ("2", 200), ("3", 200)]
    assert len(await issues(client, tenant, connector["id"], run["id"])) == 248  # + "n/a"


async def test_mappings_are_checked_against_the_source(
    client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator, connectors: list[str]
) -> None:
    async def refused(**options: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/connectors", json=freshsales(emulator, **options), headers=bearer(tenant)
        )
        assert response.status_code == 400, response.text
        body: dict[str, Any] = response.json()
        return body

    user_metric = await refused(mappings=[{"field": "cf_health_score", "target": "user_metric"}])
    assert user_metric["code"] == "user_metric_not_supported"
    assert "JS library or the Event API" in user_metric["message"]

    by_label = await refused(mappings=[{"field": "MRR", "target": "account_metric"}])
    assert by_label["code"] == "unknown_field"
    assert by_label["details"] == [
        {"object": "account", "field": "MRR", "did_you_mean": ["cf_mrr"]}
    ]

    text_metric = await refused(
        mappings=[{"field": "cf_mrr", "target": "account_metric", "type": "string"}]
    )
    assert text_metric["code"] == "invalid_type"
    bad_match = await refused(match={"account": {"by": "email"}})
    assert bad_match["code"] == "invalid_match"
    assert (await refused(api_key=None))["code"] == "missing_setting"

    wrong_key = await client.post(
        "/api/v1/connectors", json=freshsales(emulator, api_key="nope"), headers=bearer(tenant)
    )
    assert (wrong_key.status_code, wrong_key.json()["code"]) == (400, "source_refused")
    assert "Incorrect or expired API key" in wrong_key.json()["message"]

    await create(client, tenant, connectors, freshsales(emulator))
    conflict = await refused(
        name="other", mappings=[{"field": "cf_mrr", "target": "account_dimension", "key": "mrr"}]
    )
    assert conflict["code"] == "field_conflict"
    listed = await client.get("/api/v1/connectors", headers=bearer(tenant))
    assert [c["name"] for c in listed.json()["items"]] == ["crm"]
    assert "api_key" not in str(listed.json())


async def test_a_run_cut_off_halfway_is_run_again_safely(
    client: httpx.AsyncClient,
    tenant: Tenant,
    crm: None,
    emulator: RunningEmulator,
    connectors: list[str],
) -> None:
    prospects(emulator, updated_at="2026-11-21T00:00:00+00:00")
    connector = await create(
        client, tenant, connectors, freshsales(emulator, mappings=MAPPINGS[:2])
    )
    # Page 2 is refused for good (the key was revoked mid-run, say).
    faults = emulator.state.faults
    faults.fail_after, faults.fail_next, faults.fail_status = 4, 1, 403

    cut = await run_now(client, tenant, connector["id"])

    assert cut["status"] == "failed"
    assert cut["error"] == "Freshsales: Service temporarily unavailable"
    assert (cut["counts"]["fetched"], cut["counts"]["updated"]) == (100, 3)  # page 1 landed
    assert (await account(client, tenant, "acme"))["custom"]["plan"] == "pro"
    stored = await client.get(f"/api/v1/connectors/{connector['id']}", headers=bearer(tenant))
    assert stored.json()["state"] == {}  # no watermark: the next run pulls everything again

    again = await run_now(client, tenant, connector["id"])

    assert again["status"] == "succeeded"
    assert again["full"] is True
    assert (again["counts"]["fetched"], again["counts"]["updated"]) == (250, 0)
    state = await client.get(f"/api/v1/connectors/{connector['id']}", headers=bearer(tenant))
    assert state.json()["state"]["account_updated_at"] == "2026-11-21T00:00:00+00:00"
