"""`GET /api/v1/events`: filters, pagination, and nothing from another workspace."""

from __future__ import annotations

import httpx
import pytest

from tests.support.http import bearer, send, wait_for_events
from tests.support.tenants import Tenant, create_tenant


@pytest.fixture
async def ten_events(client: httpx.AsyncClient, tenant: Tenant) -> Tenant:
    batch = [
        {
            "type": "track" if number % 2 == 0 else "page",
            "userId": f"u-{number % 3}",
            "event": f"Feature {number}",
            "name": f"Page {number}",
            "groupId": "acct-a" if number < 5 else "acct-b",
            "messageId": f"ev-{number}",
            "timestamp": f"2026-01-01T10:{number:02d}:00Z",
        }
        for number in range(10)
    ]
    await send(client, tenant, batch)
    assert len(await wait_for_events(client, tenant, 10)) == 10
    return tenant


async def test_events_come_in_time_order_with_filters(
    client: httpx.AsyncClient, ten_events: Tenant
) -> None:
    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/events?{query}", headers=bearer(ten_events))
        assert response.status_code == 200, response.text
        return [item["message_id"] for item in response.json()["items"]]

    assert await ids("") == [f"ev-{n}" for n in range(10)]
    assert await ids("account_id=acct-b&type=track") == ["ev-6", "ev-8"]
    assert await ids("user_id=u-1") == ["ev-1", "ev-4", "ev-7"]
    assert await ids("since=2026-01-01T10:03:00Z&until=2026-01-01T10:05:00Z") == ["ev-3", "ev-4"]


async def test_pagination_walks_every_event_once(
    client: httpx.AsyncClient, ten_events: Tenant
) -> None:
    seen, cursor = [], None
    while True:
        query = f"limit=3&cursor={cursor}" if cursor else "limit=3"
        page = (await client.get(f"/api/v1/events?{query}", headers=bearer(ten_events))).json()
        seen += [item["message_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"ev-{n}" for n in range(10)]


async def test_another_workspace_sees_none_of_them(
    client: httpx.AsyncClient, ten_events: Tenant, database_url: str
) -> None:
    other = await create_tenant(database_url)
    response = await client.get("/api/v1/events", headers=bearer(other))
    assert response.json() == {"items": [], "next_cursor": None}
    filtered = await client.get("/api/v1/events?account_id=acct-a", headers=bearer(other))
    assert filtered.json()["items"] == []


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Bearer pgk_not-a-key"}, "invalid_api_key"),
    ],
)
async def test_events_need_a_workspace_api_key(
    client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    response = await client.get("/api/v1/events", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code


async def test_write_key_is_not_an_api_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(
        "/api/v1/events", headers={"Authorization": f"Bearer {tenant.write_key}"}
    )
    assert response.status_code == 401


async def test_bad_cursor_and_bad_filter_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    bad_cursor = await client.get("/api/v1/events?cursor=%%%", headers=bearer(tenant))
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["code"] == "invalid_cursor"
    bad_type = await client.get("/api/v1/events?type=alias", headers=bearer(tenant))
    assert bad_type.status_code == 400
    assert bad_type.json()["details"][0]["field"] == "query.type"
