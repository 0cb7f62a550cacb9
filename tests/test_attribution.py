"""Who did an event, and for which account: inference, late attribution, identity stitching."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from pulsegate.sessions import sweep as session_sweep
from pulsegate.sessions.sessionize import SessionRules
from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.journeys import JOURNEY
from tests.support.replay import run_replay
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import settle


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
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "messageId": "g-1",
                "traits": {"name": "Acme", "createdAt": "2024-01-01"},
            },
            {"type": "track", "userId": "u", "event": "Late", "messageId": "e-2"},
        ],
    )
    await settle(client, tenant, rows)
    assert ids(await events(client, tenant, "account_id=acme")) == ["e-1", "e-2"]


async def test_an_explicit_group_id_wins_over_the_users_account(
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
                "timestamp": "2026-01-01T00:00:00Z",
            },
            {
                "type": "track",
                "userId": "u",
                "event": "Elsewhere",
                "messageId": "e-1",
                "context": {"groupId": "beta"},
            },
        ],
    )
    await settle(client, tenant, rows)
    [event] = await events(client, tenant)
    assert event["account_id"] == "beta"


async def test_anonymous_events_join_the_user_who_identifies_and_their_account(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "page",
                "anonymousId": "anon-1",
                "name": "Pricing",
                "messageId": "p-1",
                "timestamp": "2026-01-01T10:00:00Z",
            },
            {
                "type": "track",
                "anonymousId": "anon-1",
                "event": "Signup Started",
                "messageId": "t-1",
                "timestamp": "2026-01-01T10:01:00Z",
            },
            {"type": "page", "anonymousId": "anon-2", "name": "Home", "messageId": "p-2"},
        ],
    )
    await settle(client, tenant, rows)
    assert await events(client, tenant, "user_id=ada") == []
    await send(
        client,
        tenant,
        [
            {
                "type": "identify",
                "userId": "ada",
                "anonymousId": "anon-1",
                "messageId": "i-1",
                "timestamp": "2026-01-01T10:02:00Z",
            },
            {
                "type": "group",
                "userId": "ada",
                "groupId": "acme",
                "messageId": "g-1",
                "timestamp": "2026-01-01T10:03:00Z",
            },
        ],
    )
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
        [
            {"type": "track", "anonymousId": "device-9", "event": "Opened", "messageId": "t-1"},
            {"type": "track", "userId": "old-id", "event": "Clicked", "messageId": "t-2"},
            {"type": "alias", "previousId": "device-9", "userId": "grace", "messageId": "a-1"},
            {"type": "alias", "previousId": "old-id", "userId": "grace", "messageId": "a-2"},
        ],
    )
    await settle(client, tenant, rows)
    assert ids(await events(client, tenant, "user_id=grace")) == ["t-1", "t-2"]


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
        ("j-1", "lin", "beta"),
        ("j-2", "lin", "beta"),
        ("j-5", "lin", "beta"),
    ]
    shuffler = random.Random(7)
    for _ in range(3):
        order = JOURNEY + JOURNEY[:2]
        shuffler.shuffle(order)
        assert await outcome(order) == expected


STRANGER = [
    {
        "type": "page",
        "anonymousId": "anon-s",
        "name": "Home",
        "messageId": "s-1",
        "timestamp": "2026-03-05T09:00:00Z",
    },
    {
        "type": "track",
        "anonymousId": "anon-s",
        "event": "Report Built",
        "messageId": "s-2",
        "timestamp": "2026-03-05T09:02:00Z",
        "properties": {"module": "Reports"},
    },
    {
        "type": "track",
        "userId": "old-sam",
        "event": "Export",
        "messageId": "s-3",
        "timestamp": "2026-03-05T15:00:00Z",
        "properties": {"module": "Reports"},
    },
]
STITCHES = [
    {
        "type": "identify",
        "userId": "sam",
        "anonymousId": "anon-s",
        "messageId": "s-4",
        "timestamp": "2026-03-06T09:00:00Z",
    },
    {
        "type": "alias",
        "previousId": "old-sam",
        "userId": "sam",
        "messageId": "s-5",
        "timestamp": "2026-03-06T09:01:00Z",
    },
    {
        "type": "group",
        "userId": "sam",
        "groupId": "acme-s",
        "messageId": "s-6",
        "timestamp": "2026-03-06T09:02:00Z",
        "traits": {"name": "Acme", "createdAt": "2024-01-01"},
    },
]


async def stitched_view(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    async def get(path: str) -> Any:
        response = await client.get(path, headers=bearer(tenant))
        assert response.status_code == 200, response.text
        return response.json()

    sessions = await get("/api/v1/sessions?user_id=sam")
    return {
        "user_events": ids(await events(client, tenant, "user_id=sam")),
        "account_events": ids(await events(client, tenant, "account_id=acme-s")),
        "user_sessions": [(s["session_key"], s["account_id"]) for s in sessions["items"]],
        "account_sessions": [
            (s["session_key"], s["user_id"])
            for s in (await get("/api/v1/sessions?account_id=acme-s"))["items"]
        ],
        "usage": [
            (day["sessions"], day["events"], day["active_users"])
            for day in (await get("/api/v1/accounts/acme-s/usage?from=2026-03-05&to=2026-03-05"))[
                "days"
            ]
        ],
    }


async def test_stitching_after_the_fact_reaches_events_sessions_and_usage(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    database_url: str,
    tmp_path: Path,
) -> None:
    """Anonymous and old-id events are stored, projected and sessionized first; the identify,
    alias and group calls that come later move them, their sessions and their usage."""
    await send(client, tenant, STRANGER)
    await settle(client, tenant, rows)
    await session_sweep.sweep(app.state.engine, rules=SessionRules())
    assert await events(client, tenant, "user_id=sam") == []
    before = rows.query(
        "SELECT resolved_user_id FROM sessions WHERE workspace_id = %s", tenant.workspace_id
    )
    assert {row["resolved_user_id"] for row in before} == {None, "old-sam"}

    await send(client, tenant, STITCHES)
    await settle(client, tenant, rows)
    expected = {
        "user_events": ["s-1", "s-2", "s-3"],
        "account_events": ["s-1", "s-2", "s-3"],
        "user_sessions": [("anon-s", "acme-s"), ("old-sam", "acme-s")],
        "account_sessions": [("anon-s", "sam"), ("old-sam", "sam")],
        "usage": [(2, 3, 1)],
    }
    assert await stitched_view(client, tenant) == expected

    await run_replay(database_url, tmp_path, tenant)
    await session_sweep.sweep(app.state.engine, rules=SessionRules())
    assert await stitched_view(client, tenant) == expected
