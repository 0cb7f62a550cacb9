"""`/api/v1/rejected-messages`: what was refused and why, and replaying it."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson

from tests.support.database import Rows
from tests.support.http import basic, bearer
from tests.support.tenants import Tenant, create_tenant


async def refuse_some(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.post("/v1/track", content=b'{"userId": ', headers=basic(tenant.write_key))
    await client.post(
        "/v1/batch",
        json={
            "batch": [
                {"type": "track", "userId": "u", "messageId": "no-event"},
                {"type": "track", "userId": "u", "event": "ok"},
            ]
        },
        headers=basic(tenant.write_key),
    )


async def test_refusals_are_listed_newest_first_with_reasons_and_bytes(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await refuse_some(client, tenant)
    response = await client.get("/api/v1/rejected-messages", headers=bearer(tenant))
    assert response.status_code == 200
    batch_item, bad_json = response.json()["items"]
    assert (batch_item["endpoint"], batch_item["batch_index"], batch_item["message_id"]) == (
        "/v1/batch",
        0,
        "no-event",
    )
    assert batch_item["reasons"][0]["field"] == "event"
    assert orjson.loads(batch_item["body"])["messageId"] == "no-event"
    assert (bad_json["endpoint"], bad_json["body"]) == ("/v1/track", '{"userId": ')
    assert bad_json["reasons"][0]["code"] == "invalid_json"
    page = await client.get("/api/v1/rejected-messages?limit=1", headers=bearer(tenant))
    assert [item["id"] for item in page.json()["items"]] == [batch_item["id"]]
    rest = await client.get(
        f"/api/v1/rejected-messages?cursor={page.json()['next_cursor']}", headers=bearer(tenant)
    )
    assert [item["id"] for item in rest.json()["items"]] == [bad_json["id"]]


async def test_replaying_a_message_that_is_still_invalid_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await refuse_some(client, tenant)
    [kept, _] = (await client.get("/api/v1/rejected-messages", headers=bearer(tenant))).json()[
        "items"
    ]
    response = await client.post(
        f"/api/v1/rejected-messages/{kept['id']}/replay", headers=bearer(tenant)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_message"
    assert response.json()["details"][0]["field"] == "event"
    assert len(rows.rejected(tenant.workspace_id)) == 2  # not kept a second time
    assert rows.rejected(tenant.workspace_id)[1]["replayed_at"] is None


async def test_replaying_a_message_refused_under_an_older_rule_stores_it(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """A refusal whose cause is gone (here: a record from a stricter rule) is stored on replay."""
    body = orjson.dumps({"type": "track", "userId": "u", "event": "Exported", "messageId": "old-1"})
    [row] = rows.query(
        "INSERT INTO rejected_messages (workspace_id, source_id, received_at, endpoint, "
        "message_id, batch_index, raw_body, body_truncated, reasons) VALUES "
        "(%s, %s, %s, '/v1/track', 'old-1', NULL, %s, false, "
        """'[{"field": "", "code": "retired_rule", "message": "a rule since relaxed"}]') """
        "RETURNING id",
        tenant.workspace_id,
        tenant.source_id,
        datetime.now(UTC),
        body,
    )
    response = await client.post(
        f"/api/v1/rejected-messages/{row['id']}/replay", headers=bearer(tenant)
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": True, "rejected": []}
    assert [r["message_id"] for r in rows.inbound(tenant.workspace_id)] == ["old-1"]
    [record] = rows.rejected(tenant.workspace_id)
    assert record["replayed_at"] is not None
    again = await client.post(
        f"/api/v1/rejected-messages/{row['id']}/replay", headers=bearer(tenant)
    )
    assert again.status_code == 200  # a replay is idempotent: messageId dedups
    assert len(rows.inbound(tenant.workspace_id)) == 1


async def test_truncated_bodies_cannot_be_replayed_and_ids_are_per_workspace(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    await client.post(
        "/v1/track", content=b'{"x": "' + b"y" * 40_000 + b'"}', headers=basic(tenant.write_key)
    )
    [kept] = (await client.get("/api/v1/rejected-messages", headers=bearer(tenant))).json()["items"]
    assert kept["body_truncated"] is True
    response = await client.post(
        f"/api/v1/rejected-messages/{kept['id']}/replay", headers=bearer(tenant)
    )
    assert (response.status_code, response.json()["code"]) == (409, "not_replayable")
    other = await create_tenant(database_url)
    theirs = await client.post(
        f"/api/v1/rejected-messages/{kept['id']}/replay", headers=bearer(other)
    )
    assert (theirs.status_code, theirs.json()["code"]) == (404, "not_found")
