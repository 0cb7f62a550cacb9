"""`GET /api/v1/messages`: every stored message readable, with what the projector made of it."""

from __future__ import annotations

from typing import Any

import httpx

from pulsegate.db.engine import unit_of_work
from pulsegate.messages import service
from pulsegate.messages.repository import MessageFilter
from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.tenants import Tenant
from tests.support.waiting import settle

CALLS: list[dict[str, Any]] = [
    {
        "type": "identify",
        "userId": "u-1",
        "anonymousId": "anon-1",
        "traits": {"email": "ada@example.com"},
        "messageId": "m-identify",
        "timestamp": "2026-03-01T10:00:00Z",
    },
    # No createdAt: the account is not created, and the projector notes why.
    {
        "type": "group",
        "userId": "u-1",
        "groupId": "acme",
        "traits": {"name": "Acme"},
        "messageId": "m-group",
        "timestamp": "2026-03-01T10:00:01Z",
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Report Exported",
        "properties": {"module": "Reports"},
        "context": {"groupId": "acme"},
        "messageId": "m-track",
        "timestamp": "2026-03-01T10:00:02Z",
    },
    {
        "type": "alias",
        "userId": "u-2",
        "previousId": "anon-9",
        "messageId": "m-alias",
        "timestamp": "2026-03-01T10:00:03Z",
    },
]


async def list_ids(client: httpx.AsyncClient, tenant: Tenant, query: str = "") -> list[str]:
    response = await client.get(f"/api/v1/messages?{query}", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    return [item["message_id"] for item in response.json()["items"]]


async def test_every_type_is_listed_with_its_warnings_and_projection(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(client, tenant, CALLS)
    await settle(client, tenant, rows)
    response = await client.get("/api/v1/messages", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["message_id"] for item in body["items"]] == [
        "m-alias",
        "m-track",
        "m-group",
        "m-identify",
    ]
    assert body["next_cursor"] is None
    by_id = {item["message_id"]: item for item in body["items"]}
    group = by_id["m-group"]
    assert group["message"]["traits"] == {"name": "Acme"}
    assert group["source_id"] == str(tenant.source_id)
    assert group["projection"]["state"] == "applied"
    assert [note["code"] for note in group["projection"]["notes"]] == ["account_not_created"]
    assert group["projection"]["event"] is None
    track = by_id["m-track"]["projection"]
    assert (track["state"], track["notes"]) == ("applied", [])
    assert track["event"]["name"] == "Report Exported"
    assert track["event"]["module"] == "Reports"
    assert track["event"]["resolved_user_id"] == "u-1"
    assert by_id["m-identify"]["projection"]["event"] is None


async def test_filters_and_pages(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> None:
    await send(client, tenant, CALLS)
    await settle(client, tenant, rows)
    assert await list_ids(client, tenant, "type=group") == ["m-group"]
    assert await list_ids(client, tenant, "user_id=u-1") == ["m-track", "m-group", "m-identify"]
    assert await list_ids(client, tenant, "anonymous_id=anon-1") == ["m-identify"]
    assert await list_ids(client, tenant, "account_id=acme") == ["m-track", "m-group"]
    assert await list_ids(client, tenant, f"source_id={tenant.source_id}") == [
        "m-alias",
        "m-track",
        "m-group",
        "m-identify",
    ]
    [stored] = rows.query(
        "SELECT received_at FROM inbound_messages WHERE workspace_id = %s LIMIT 1",
        tenant.workspace_id,
    )
    received = stored["received_at"].isoformat().replace("+00:00", "Z")
    assert await list_ids(client, tenant, f"until={received}") == []
    assert len(await list_ids(client, tenant, f"since={received}")) == 4

    seen, cursor = [], None
    while True:
        query = "limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(f"/api/v1/messages?{query}", headers=bearer(tenant))).json()
        seen += [item["message_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["m-alias", "m-track", "m-group", "m-identify"]
    bad = await client.get("/api/v1/messages?cursor=nonsense!", headers=bearer(tenant))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")
    bad_type = await client.get("/api/v1/messages?type=purchase", headers=bearer(tenant))
    assert bad_type.status_code == 400


async def test_a_page_reads_a_bounded_stretch_and_says_where_to_go_on(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """With a scan budget of two messages, a filter matching only the oldest one is found on
    the second page; the first is empty but has a cursor."""
    await send(client, tenant, CALLS)
    engine = client._transport.app.state.engine  # type: ignore[attr-defined]
    where = MessageFilter(anonymous_id="anon-1")
    async with unit_of_work(engine) as session:
        first = await service.list_messages(
            session, tenant.workspace_id, where=where, cursor=None, limit=10, budget=2
        )
        assert (first.items, first.next_cursor is not None) == ([], True)
        second = await service.list_messages(
            session, tenant.workspace_id, where=where, cursor=first.next_cursor, limit=10, budget=2
        )
        assert [item.message_id for item in second.items] == ["m-identify"]
        # That page used its whole budget, so it cannot know the log ends there.
        third = await service.list_messages(
            session, tenant.workspace_id, where=where, cursor=second.next_cursor, limit=10, budget=2
        )
    assert (third.items, third.next_cursor) == ([], None)
