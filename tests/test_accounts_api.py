"""Accounts and users from group and identify calls, read through the REST API."""

from __future__ import annotations

import random
from typing import Any

import httpx

from tests.support.database import Rows
from tests.support.http import bearer, get_when, send, set_choices
from tests.support.journeys import CONVERSATION
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import settle

SEED_GROUP_TRAITS = {
    "name": "Acme Corp",
    "createdAt": "2024-03-01T00:00:00Z",
    "email": "cs@acme.example",
    "description": "Makes everything",
    "phone": "+1 555 0100",
    "website": "https://acme.example",
    "industry": "Manufacturing",
    "employees": 250,
    "tier": "Gold",
    "lifecycle_stage": "Onboarding",
    "billing_street": "1 Main St",
    "biling_city": "Springfield",  # sic: the misspelling the field table accepts
    "billing_state": "IL",
    "billing_postal": "62701",
    "billing_country": "US",
    "is_churned": False,
}


async def test_every_group_trait_of_the_seed_table(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await set_choices(client, tenant, ["Gold", "Silver"], ["Onboarding", "Adoption"])
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u-1",
                "groupId": "acme",
                "traits": SEED_GROUP_TRAITS,
                "timestamp": "2026-01-05T09:00:00Z",
            }
        ],
    )
    account = (await get_when(client, tenant, "/api/v1/accounts/acme")).json()
    expected = {k: v for k, v in SEED_GROUP_TRAITS.items() if k not in ("createdAt", "biling_city")}
    assert {k: account[k] for k in expected} == expected
    assert account["created_at"] == "2024-03-01T00:00:00Z"
    assert account["billing_city"] == "Springfield"
    assert account["user_count"] == 1
    assert account["first_seen"] == account["last_seen"] == "2026-01-05T09:00:00Z"


async def test_every_identify_trait_in_any_spelling(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    traits = {
        "firstName": "Ada",
        "last_name": "Lovelace",
        "email": "ada@acme.example",
        "phone": "+1 555 0101",
        "mobilephone": "+1 555 0102",
        "salutation": "Ms",
        "title": "CTO",
        "Role": "Admin",
        "department": "Engineering",
        "mailingStreet": "2 Main St",
        "mailing_city": "Springfield",
        "mailing_state": "IL",
        "mailing_postal": "62701",
        "mailing_country": "US",
    }
    await send(
        client,
        tenant,
        [
            {
                "type": "identify",
                "userId": "ada",
                "traits": traits,
                "context": {"traits": {"first_name": "from context", "email": "ignored@x"}},
            },
            {
                "type": "group",
                "userId": "ada",
                "groupId": "acme",
                "traits": {"name": "Acme", "createdAt": "2024-03-01"},
            },
        ],
    )
    user = (await get_when(client, tenant, "/api/v1/users/ada")).json()
    assert user["first_name"] == "Ada"  # traits win over context.traits
    assert (user["last_name"], user["mobile_phone"], user["role"], user["mailing_street"]) == (
        "Lovelace",
        "+1 555 0102",
        "Admin",
        "2 Main St",
    )
    assert user["email"] == "ada@acme.example"
    assert user["account_id"] == "acme"
    users = (await get_when(client, tenant, "/api/v1/accounts/acme/users")).json()
    assert [u["user_id"] for u in users["items"]] == ["ada"]


async def test_an_account_is_created_only_with_name_and_created_at(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "later-co",
                "messageId": "g-1",
                "traits": {"industry": "Retail"},
                "timestamp": "2026-01-01T00:00:00Z",
            }
        ],
    )
    await settle(client, tenant, rows)
    missing = await client.get("/api/v1/accounts/later-co", headers=bearer(tenant))
    assert missing.status_code == 404
    [note] = rows.query(
        "SELECT n.code FROM projection_notes n JOIN inbound_messages m "
        "ON m.id = n.inbound_message_id WHERE m.workspace_id = %s AND m.message_id = 'g-1'",
        tenant.workspace_id,
    )
    assert note["code"] == "account_not_created"
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "later-co",
                "traits": {"name": "Later Co", "createdAt": "2025-06-01"},
                "timestamp": "2026-01-02T00:00:00Z",
            }
        ],
    )
    account = (await get_when(client, tenant, "/api/v1/accounts/later-co")).json()
    assert (account["name"], account["industry"]) == ("Later Co", "Retail")


async def test_per_field_newest_wins_null_clears_absent_keeps(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    base = {"type": "group", "userId": "u", "groupId": "acme"}
    await send(
        client,
        tenant,
        [
            {
                **base,
                "timestamp": "2026-01-03T00:00:00Z",
                "traits": {"name": "Acme (newest)", "industry": None},
            },
            {
                **base,
                "timestamp": "2026-01-01T00:00:00Z",
                "traits": {
                    "name": "Acme (oldest)",
                    "createdAt": "2024-01-01",
                    "industry": "Tools",
                    "website": "https://old.example",
                },
            },
            {**base, "timestamp": "2026-01-02T00:00:00Z", "traits": {"employees": "lots"}},
        ],
    )
    await settle(client, tenant, rows)
    account = (await client.get("/api/v1/accounts/acme", headers=bearer(tenant))).json()
    assert account["name"] == "Acme (newest)"  # the older message arrived later and lost
    assert account["industry"] is None  # an explicit null, newer than the value, clears it
    assert account["website"] == "https://old.example"  # absent later: left alone
    assert account["employees"] is None  # flagged at ingest, so not applied
    assert account["first_seen"] == "2026-01-01T00:00:00Z"
    assert account["last_seen"] == "2026-01-03T00:00:00Z"


async def state_after(
    client: httpx.AsyncClient, database_url: str, rows: Rows, order: list[dict[str, Any]]
) -> dict[str, Any]:
    """A new workspace receives `order` one request per message; return what the API shows."""
    tenant = await create_tenant(database_url)
    for message in order:
        await send(client, tenant, [message])
    await settle(client, tenant, rows)
    result: dict[str, Any] = {}
    for path in (
        "/api/v1/accounts",
        "/api/v1/users/u-1",
        "/api/v1/users/u-2",
        "/api/v1/accounts/acme/users",
        "/api/v1/accounts/beta/users",
    ):
        response = await client.get(path, headers=bearer(tenant))
        result[path] = (response.status_code, response.json())
    return result


async def test_shuffled_and_duplicated_delivery_ends_in_the_same_state(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    in_order = await state_after(client, database_url, rows, CONVERSATION)
    assert in_order["/api/v1/users/u-1"][1]["first_name"] == "Tie"  # same time: higher messageId
    assert in_order["/api/v1/users/u-1"][1]["account_id"] == "beta"
    acme = next(a for a in in_order["/api/v1/accounts"][1]["items"] if a["account_id"] == "acme")
    assert acme["name"] is None  # cleared by c-6, newer than c-1
    orders = [list(reversed(CONVERSATION)), CONVERSATION + CONVERSATION[:3]]
    shuffler = random.Random(20261122)
    for _ in range(3):
        shuffled = list(CONVERSATION)
        shuffler.shuffle(shuffled)
        orders.append(shuffled)
    for order in orders:
        assert await state_after(client, database_url, rows, order) == in_order


async def test_accounts_list_and_pages(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": f"acct-{n}",
                "traits": {"name": f"Account {n}", "createdAt": "2024-01-01"},
            }
            for n in range(5)
        ]
        + [{"type": "group", "userId": "u", "groupId": "pending", "traits": {"name": "P"}}],
    )
    await get_when(
        client, tenant, "/api/v1/accounts?limit=1000", lambda body: len(body["items"]) == 5
    )
    seen, cursor = [], None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = (await client.get(f"/api/v1/accounts{query}", headers=bearer(tenant))).json()
        seen += [item["account_id"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [f"acct-{n}" for n in range(5)]  # the pending account is not listed


async def test_another_workspace_reads_none_of_it(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "traits": {"name": "Acme", "createdAt": "2024-01-01"},
            }
        ],
    )
    assert (await get_when(client, tenant, "/api/v1/accounts/acme")).status_code == 200
    other = await create_tenant(database_url)
    for path in ("/api/v1/accounts/acme", "/api/v1/users/u", "/api/v1/accounts/acme/users"):
        response = await client.get(path, headers=bearer(other))
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    listing = await client.get("/api/v1/accounts", headers=bearer(other))
    assert listing.json() == {"items": [], "next_cursor": None}


async def test_tier_and_lifecycle_stage_must_name_an_entry_of_the_workspace(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await set_choices(client, tenant, ["Gold", "Silver"], ["Onboarding"])
    base = {"type": "group", "userId": "u", "groupId": "acme"}
    created = {"name": "Acme", "createdAt": "2024-01-01"}
    await send(
        client,
        tenant,
        [
            {
                **base,
                "messageId": "g-1",
                "timestamp": "2026-01-01T00:00:00Z",
                "traits": {**created, "tier": "Gold", "lifecycle_stage": "Onboarding"},
            },
            {
                **base,
                "messageId": "g-2",
                "timestamp": "2026-01-02T00:00:00Z",
                "traits": {"tier": "Platinum", "lifecycle_stage": "Churned"},
            },
        ],
    )
    await settle(client, tenant, rows)
    account = (await client.get("/api/v1/accounts/acme", headers=bearer(tenant))).json()
    assert (account["tier"], account["lifecycle_stage"]) == ("Gold", "Onboarding")
    notes = rows.query(
        "SELECT n.code, n.message FROM projection_notes n JOIN inbound_messages m "
        "ON m.id = n.inbound_message_id WHERE m.workspace_id = %s AND m.message_id = 'g-2' "
        "ORDER BY n.code",
        tenant.workspace_id,
    )
    assert [note["code"] for note in notes] == ["unknown_lifecycle_stage", "unknown_tier"]
    assert "'Platinum' is not in the workspace's list" in notes[1]["message"]


async def test_choice_lists_are_replaced_whole_and_validated(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    await set_choices(client, tenant, ["Gold", "Silver", "Bronze"], [])
    await set_choices(client, tenant, ["Silver", "Gold"], ["Trial"])
    tiers = await client.get("/api/v1/settings/tiers", headers=bearer(tenant))
    assert tiers.json() == {"items": [{"name": "Silver"}, {"name": "Gold"}]}
    duplicate = await client.put(
        "/api/v1/settings/tiers",
        json={"items": [{"name": "Gold"}, {"name": "Gold"}]},
        headers=bearer(tenant),
    )
    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "invalid_request"
    other = await create_tenant(database_url)
    theirs = await client.get("/api/v1/settings/lifecycle-stages", headers=bearer(other))
    assert theirs.json() == {"items": []}
