"""Custom metrics: daily values through the API and from mapped traits, and their history."""

from __future__ import annotations

import httpx

from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import settle


async def define_metric(client: httpx.AsyncClient, tenant: Tenant, key: str = "mrr") -> None:
    response = await client.post(
        "/api/v1/fields",
        json={"object": "account", "kind": "metric", "key": key, "type": "number"},
        headers=bearer(tenant),
    )
    assert response.status_code == 201, response.text


async def history(client: httpx.AsyncClient, tenant: Tenant, query: str = "") -> list[tuple]:
    response = await client.get(f"/api/v1/accounts/acme/metrics/mrr{query}", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    return [(point["date"], point["value"]) for point in response.json()["items"]]


async def post(client: httpx.AsyncClient, tenant: Tenant, items: list[dict]) -> httpx.Response:
    return await client.post("/api/v1/metrics", json={"items": items}, headers=bearer(tenant))


async def test_daily_values_through_the_api_keep_history(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await define_metric(client, tenant)
    point = {"object": "account", "id": "acme", "key": "mrr"}
    stored = await post(
        client,
        tenant,
        [
            {**point, "value": 100, "date": "2026-11-01"},
            {**point, "value": 110, "date": "2026-11-02"},
            {**point, "value": 999, "date": "2026-11-03"},
            {**point, "value": 120, "date": "2026-11-03"},
        ],  # the last of a day wins
    )
    assert stored.json() == {"stored": 3}
    assert await history(client, tenant) == [
        ("2026-11-01", 100.0),
        ("2026-11-02", 110.0),
        ("2026-11-03", 120.0),
    ]
    await post(client, tenant, [{**point, "value": 105, "date": "2026-11-02"}])  # a correction
    assert await history(client, tenant, "?from=2026-11-02&to=2026-11-02") == [
        ("2026-11-02", 105.0)
    ]
    undated = await post(client, tenant, [{**point, "value": 130}])
    assert undated.json() == {"stored": 1}
    assert len(await history(client, tenant, "?from=2026-11-04")) == 1  # today


async def test_unknown_metrics_store_nothing(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await define_metric(client, tenant)
    response = await post(
        client,
        tenant,
        [
            {"object": "account", "id": "acme", "key": "mrr", "value": 1, "date": "2026-01-01"},
            {"object": "user", "id": "u", "key": "mrr", "value": 1, "date": "2026-01-01"},
        ],
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_metric"
    assert response.json()["details"] == [{"index": 1, "object": "user", "key": "mrr"}]
    stored = rows.query("SELECT * FROM metric_values WHERE workspace_id = %s", tenant.workspace_id)
    assert stored == []
    not_a_number = await post(
        client, tenant, [{"object": "account", "id": "acme", "key": "mrr", "value": "lots"}]
    )
    assert not_a_number.status_code == 400


async def test_mapped_numeric_traits_write_the_day_of_the_event(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await define_metric(client, tenant)
    rule = {
        "mode": "mapped",
        "mappings": [{"object": "account", "trait": "monthly_revenue", "field": "mrr"}],
    }
    put = await client.put("/api/v1/settings/custom-fields", json=rule, headers=bearer(tenant))
    assert put.status_code == 200, put.text
    base = {"type": "group", "userId": "u", "groupId": "acme"}
    await send(
        client,
        tenant,
        [
            {**base, "timestamp": "2026-03-02T18:00:00Z", "traits": {"monthly_revenue": 210}},
            {
                **base,
                "timestamp": "2026-03-02T09:00:00Z",  # older, and arriving later
                "traits": {"monthly_revenue": 200},
            },
            {**base, "timestamp": "2026-03-01T12:00:00Z", "traits": {"monthly_revenue": 190}},
            {**base, "timestamp": "2026-03-03T12:00:00Z", "traits": {"monthly_revenue": "n/a"}},
            {**base, "timestamp": "2026-03-04T12:00:00Z", "traits": {"mrr": 999}},
        ],  # not mapped
    )
    await settle(client, tenant, rows)
    assert await history(client, tenant) == [("2026-03-01", 190.0), ("2026-03-02", 210.0)]


async def test_in_auto_mode_a_trait_named_like_a_metric_writes_it(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await define_metric(client, tenant)
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "timestamp": "2026-04-01T12:00:00Z",
                "traits": {"mrr": 50},
            }
        ],
    )
    await settle(client, tenant, rows)
    assert await history(client, tenant) == [("2026-04-01", 50.0)]


async def test_history_of_an_undefined_metric_or_another_workspace(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    missing = await client.get("/api/v1/accounts/acme/metrics/mrr", headers=bearer(tenant))
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    await define_metric(client, tenant)
    await post(
        client,
        tenant,
        [{"object": "account", "id": "acme", "key": "mrr", "value": 5, "date": "2026-01-01"}],
    )
    other = await create_tenant(database_url)
    await define_metric(client, other)
    assert await history(client, other) == []
