"""`PUT /api/v1/accounts/{id}` and `PUT /api/v1/users/{id}`: backend writes, through the log."""

from __future__ import annotations

import httpx

from tests.support.database import Rows
from tests.support.http import bearer, get_when, send
from tests.support.tenants import Tenant
from tests.support.waiting import settle


async def test_an_account_upserted_by_a_backend_is_stored_in_the_log_and_applied(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.put(
        "/api/v1/accounts/acme",
        json={
            "name": "Acme",
            "created_at": "2024-03-01",
            "employees": 40,
            "is_churned": False,
            "custom": {"plan": "pro"},
        },
        headers=bearer(tenant),
    )
    assert response.status_code == 202
    message_id = response.json()["message_id"]
    [stored] = rows.inbound(tenant.workspace_id)
    assert (stored["message_id"], stored["type"]) == (message_id, "group")
    assert stored["message"]["traits"] == {
        "name": "Acme",
        "createdAt": "2024-03-01",
        "employees": 40.0,
        "is_churned": False,
        "plan": "pro",
    }
    account = (await get_when(client, tenant, "/api/v1/accounts/acme")).json()
    assert (account["name"], account["employees"], account["custom"]) == (
        "Acme",
        40.0,
        {"plan": "pro"},
    )


async def test_a_backend_write_sets_what_it_sends_clears_nulls_and_keeps_the_rest(
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
                "timestamp": "2020-01-01T00:00:00Z",
                "traits": {
                    "name": "Acme",
                    "createdAt": "2024-01-01",
                    "industry": "Tools",
                    "website": "https://acme.example",
                },
            }
        ],
    )
    await settle(client, tenant, rows)
    await client.put(
        "/api/v1/accounts/acme",
        json={"industry": "Retail", "website": None},
        headers=bearer(tenant),
    )
    await settle(client, tenant, rows)
    account = (await client.get("/api/v1/accounts/acme", headers=bearer(tenant))).json()
    assert (account["name"], account["industry"], account["website"]) == ("Acme", "Retail", None)


async def test_a_user_upserted_by_a_backend(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.put(
        "/api/v1/users/ada",
        json={"first_name": "Ada", "custom": {"seat": "admin"}},
        headers=bearer(tenant),
    )
    assert response.status_code == 202
    user = (await get_when(client, tenant, "/api/v1/users/ada")).json()
    assert (user["first_name"], user["custom"]) == ("Ada", {"seat": "admin"})
    assert rows.inbound(tenant.workspace_id)[0]["type"] == "identify"


async def test_unknown_or_mistyped_fields_are_400_and_nothing_is_stored(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    for body in ({"nmae": "typo"}, {"employees": "many"}, {"is_churned": "perhaps"}):
        response = await client.put("/api/v1/accounts/acme", json=body, headers=bearer(tenant))
        assert response.status_code == 400, body
        assert response.json()["code"] == "invalid_request"
    assert rows.inbound(tenant.workspace_id) == []
