"""Custom dimensions from traits: auto, mapped and off, type checks, and the fields API."""

from __future__ import annotations

import httpx

from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import settle

CREATE = {"name": "Acme", "createdAt": "2024-01-01"}


async def fields(client: httpx.AsyncClient, tenant: Tenant) -> dict[tuple[str, str], str]:
    response = await client.get("/api/v1/fields", headers=bearer(tenant))
    assert response.status_code == 200
    return {(f["object"], f["key"]): f["type"] for f in response.json()["items"]}


async def account(client: httpx.AsyncClient, tenant: Tenant) -> dict:
    response = await client.get("/api/v1/accounts/acme", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


async def test_auto_mode_defines_dimensions_with_inferred_types(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "traits": {
                    **CREATE,
                    "plan": "pro",
                    "seats": 12,
                    "beta": True,
                    "renewal": "2026-05-01",
                    "nested": {"no": "objects"},
                },
            },
            {"type": "identify", "userId": "u", "traits": {"firstName": "Ada", "color": "blue"}},
        ],
    )
    await settle(client, tenant, rows)
    assert await fields(client, tenant) == {
        ("account", "plan"): "string",
        ("account", "seats"): "number",
        ("account", "beta"): "boolean",
        ("account", "renewal"): "date",
        ("user", "color"): "string",
    }
    assert (await account(client, tenant))["custom"] == {
        "plan": "pro",
        "seats": 12,
        "beta": True,
        "renewal": "2026-05-01",
    }
    user = (await client.get("/api/v1/users/u", headers=bearer(tenant))).json()
    assert user["custom"] == {"color": "blue"}
    assert user["first_name"] == "Ada"  # standard traits are not custom


async def test_a_value_of_the_wrong_type_is_not_applied_and_is_noted(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    base = {"type": "group", "userId": "u", "groupId": "acme"}
    await send(
        client,
        tenant,
        [{**base, "timestamp": "2026-01-01T00:00:00Z", "traits": {**CREATE, "seats": 12}}],
    )
    await settle(client, tenant, rows)
    late = {**base, "messageId": "bad-seats", "timestamp": "2026-01-02T00:00:00Z"}
    await send(client, tenant, [{**late, "traits": {"seats": "many"}}])
    await settle(client, tenant, rows)
    assert (await account(client, tenant))["custom"] == {"seats": 12}
    [note] = rows.query(
        "SELECT n.code, n.message FROM projection_notes n JOIN inbound_messages m "
        "ON m.id = n.inbound_message_id WHERE m.workspace_id = %s AND m.message_id = 'bad-seats'",
        tenant.workspace_id,
    )
    assert note["code"] == "invalid_custom_value"
    assert "seats does not fit custom field seats of type number" in note["message"]


async def test_mapped_mode_applies_only_mapped_traits(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    created = await client.post(
        "/api/v1/fields",
        json={
            "object": "account",
            "kind": "dimension",
            "key": "plan_name",
            "type": "string",
            "label": "Plan",
        },
        headers=bearer(tenant),
    )
    assert created.status_code == 201
    assert created.json()["source"] == "api"
    rule = {
        "mode": "mapped",
        "mappings": [{"object": "account", "trait": "plan", "field": "plan_name"}],
    }
    put = await client.put("/api/v1/settings/custom-fields", json=rule, headers=bearer(tenant))
    assert put.status_code == 200
    assert put.json() == rule
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "traits": {**CREATE, "plan": "pro", "other": "x"},
            }
        ],
    )
    await settle(client, tenant, rows)
    assert (await account(client, tenant))["custom"] == {"plan_name": "pro"}
    assert await fields(client, tenant) == {("account", "plan_name"): "string"}


async def test_off_mode_applies_no_custom_traits(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await client.put("/api/v1/settings/custom-fields", json={"mode": "off"}, headers=bearer(tenant))
    await send(
        client,
        tenant,
        [{"type": "group", "userId": "u", "groupId": "acme", "traits": {**CREATE, "plan": "pro"}}],
    )
    await settle(client, tenant, rows)
    assert (await account(client, tenant))["custom"] == {}
    assert await fields(client, tenant) == {}


async def test_field_definitions_are_validated(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    definition = {"object": "account", "kind": "dimension", "key": "plan", "type": "string"}
    assert (
        await client.post("/api/v1/fields", json=definition, headers=bearer(tenant))
    ).status_code == 201
    again = await client.post("/api/v1/fields", json=definition, headers=bearer(tenant))
    assert (again.status_code, again.json()["code"]) == (409, "already_exists")
    metric = await client.post(
        "/api/v1/fields",
        json={**definition, "key": "mrr", "kind": "metric"},
        headers=bearer(tenant),
    )
    assert (metric.status_code, metric.json()["code"]) == (400, "invalid_field")
    bad_key = await client.post(
        "/api/v1/fields", json={**definition, "key": "has space"}, headers=bearer(tenant)
    )
    assert bad_key.status_code == 400
    unknown = await client.put(
        "/api/v1/settings/custom-fields",
        json={"mode": "mapped", "mappings": [{"object": "user", "trait": "t", "field": "plan"}]},
        headers=bearer(tenant),
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_field")
    other = await create_tenant(database_url)
    assert await fields(client, other) == {}
    rule = await client.get("/api/v1/settings/custom-fields", headers=bearer(other))
    assert rule.json() == {"mode": "auto", "mappings": []}
