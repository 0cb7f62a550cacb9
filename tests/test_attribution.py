"""Who did an event, and for which account: inference, late attribution, identity stitching."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.conftest import Rows, Tenant, create_tenant
from tests.test_accounts_api import bearer, send, settle


async def events(client: httpx.AsyncClient, tenant: Tenant, query: str = "") -> list[dict]:
    response = await client.get(f"/api/v1/events?limit=1000&{query}", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


def ids(items: list[dict]) -> list[str]:
    return [item["message_id"] for item in items]


async def test_an_event_without_group_id_goes_to_the_users_account_even_later(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client, tenant, [{"type": "track", "userId": "u", "event": "Early", "messageId": "e-1"}]
    )
    await settle(client, tenant, rows)
    [early] = await events(client, tenant)
    assert early["account_id"] is None  # the user has no account yet
    await send(
        client,
        tenant,
        [{"type": "group", "userId": "u", "groupId": "acme", "messageId": "g-1",
          "traits": {"name": "Acme", "createdAt": "2024-01-01"}},
         {"type": "track", "userId": "u", "event": "Late", "messageId": "e-2"}],
    )  # fmt: skip
    await settle(client, tenant, rows)
    assert ids(await events(client, tenant, "account_id=acme")) == ["e-1", "e-2"]


async def test_an_explicit_group_id_wins_over_the_users_account(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [{"type": "group", "userId": "u", "groupId": "acme", "timestamp": "2026-01-01T00:00:00Z"},
         {"type": "track", "userId": "u", "event": "Elsewhere", "messageId": "e-1",
          "context": {"groupId": "beta"}}],
    )  # fmt: skip
    await settle(client, tenant, rows)
    [event] = await events(client, tenant)
    assert event["account_id"] == "beta"


async def test_anonymous_events_join_the_user_who_identifies_and_their_account(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [{"type": "page", "anonymousId": "anon-1", "name": "Pricing", "messageId": "p-1",
          "timestamp": "2026-01-01T10:00:00Z"},
         {"type": "track", "anonymousId": "anon-1", "event": "Signup Started",
          "messageId": "t-1", "timestamp": "2026-01-01T10:01:00Z"},
         {"type": "page", "anonymousId": "anon-2", "name": "Home", "messageId": "p-2"}],
    )  # fmt: skip
    await settle(client, tenant, rows)
    assert await events(client, tenant, "user_id=ada") == []
    await send(
        client,
        tenant,
        [{"type": "identify", "userId": "ada", "anonymousId": "anon-1", "messageId": "i-1",
          "timestamp": "2026-01-01T10:02:00Z"},
         {"type": "group", "userId": "ada", "groupId": "acme", "messageId": "g-1",
          "timestamp": "2026-01-01T10:03:00Z"}],
    )  # fmt: skip
    await settle(client, tenant, rows)
    stitched = await events(client, tenant, "user_id=ada")
    assert ids(stitched) == ["p-1", "t-1"]
    assert {event["account_id"] for event in stitched} == {"acme"}
    assert ids(await events(client, tenant, "account_id=acme")) == ["p-1", "t-1"]


async def test_alias_ties_a_previous_id_to_the_user(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [{"type": "track", "anonymousId": "device-9", "event": "Opened", "messageId": "t-1"},
         {"type": "track", "userId": "old-id", "event": "Clicked", "messageId": "t-2"},
         {"type": "alias", "previousId": "device-9", "userId": "grace", "messageId": "a-1"},
         {"type": "alias", "previousId": "old-id", "userId": "grace", "messageId": "a-2"}],
    )  # fmt: skip
    await settle(client, tenant, rows)
    assert ids(await events(client, tenant, "user_id=grace")) == ["t-1", "t-2"]


JOURNEY: list[dict[str, Any]] = [
    {"type": "page", "anonymousId": "a-1", "name": "Home", "messageId": "j-1",
     "timestamp": "2026-02-01T09:00:00Z"},
    {"type": "track", "anonymousId": "a-1", "event": "Trial", "messageId": "j-2",
     "timestamp": "2026-02-01T09:05:00Z"},
    {"type": "identify", "userId": "lin", "anonymousId": "a-1", "messageId": "j-3",
     "timestamp": "2026-02-01T09:06:00Z", "traits": {"firstName": "Lin"}},
    {"type": "group", "userId": "lin", "groupId": "acme", "messageId": "j-4",
     "timestamp": "2026-02-01T09:07:00Z", "traits": {"name": "Acme", "createdAt": "2024-01-01"}},
    {"type": "track", "userId": "lin", "event": "Report Built", "messageId": "j-5",
     "timestamp": "2026-02-01T09:10:00Z", "properties": {"module": "Reports"}},
    {"type": "group", "userId": "lin", "groupId": "beta", "messageId": "j-6",
     "timestamp": "2026-02-02T09:00:00Z", "traits": {"name": "Beta", "createdAt": "2024-01-01"}},
]  # fmt: skip


async def test_attribution_is_the_same_whatever_the_arrival_order(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    async def outcome(order: list[dict[str, Any]]) -> list[dict]:
        tenant = await create_tenant(database_url)
        for message in order:
            await send(client, tenant, [message])
        await settle(client, tenant, rows)
        return await events(client, tenant)

    expected = await outcome(JOURNEY)
    assert [(e["message_id"], e["user_id"], e["account_id"]) for e in expected] == [
        ("j-1", "lin", "beta"), ("j-2", "lin", "beta"), ("j-5", "lin", "beta"),
    ]  # fmt: skip
    shuffler = random.Random(7)
    for _ in range(3):
        order = JOURNEY + JOURNEY[:2]
        shuffler.shuffle(order)
        assert await outcome(order) == expected
