"""Segment's Webhooks destination (signed and unsigned) and browser CORS."""

from __future__ import annotations

import httpx
import orjson

from tests.support.database import Rows
from tests.support.http import SECRET, WEBHOOK_BODY, basic, sign
from tests.support.tenants import Tenant, create_tenant


async def signed_tenant(database_url: str) -> Tenant:
    return await create_tenant(database_url, webhook_secret=SECRET)


async def test_signed_webhook_is_accepted(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    tenant = await signed_tenant(database_url)
    response = await client.post(
        f"/v1/webhook?writeKey={tenant.write_key}",
        content=WEBHOOK_BODY,
        headers={"X-Signature": sign(WEBHOOK_BODY), "User-Agent": "Segment.io/1.0"},
    )
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [stored] = rows.inbound(tenant.workspace_id)
    assert stored["message"]["properties"] == {"revenue": 100.0, "total": 10.5}


async def test_unsigned_and_wrongly_signed_webhooks_are_401_and_not_stored(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    tenant = await signed_tenant(database_url)
    unsigned = await client.post(
        "/v1/webhook", content=WEBHOOK_BODY, headers=basic(tenant.write_key)
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "missing_signature"
    wrong = await client.post(
        "/v1/webhook",
        content=WEBHOOK_BODY,
        headers={**basic(tenant.write_key), "X-Signature": sign(WEBHOOK_BODY, "other-secret")},
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_signature"
    tampered = WEBHOOK_BODY.replace(b"u-7", b"u-8")
    response = await client.post(
        "/v1/webhook",
        content=tampered,
        headers={**basic(tenant.write_key), "X-Signature": sign(WEBHOOK_BODY)},
    )
    assert response.status_code == 401
    assert rows.inbound(tenant.workspace_id) == []
    assert rows.rejected(tenant.workspace_id) == []


async def test_batched_webhook_is_signed_over_its_first_element(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    tenant = await signed_tenant(database_url)
    second = b'{"type":"identify","userId":"u-7","messageId":"wh-2"}'
    body = b"[ " + WEBHOOK_BODY + b",\n " + second + b"]"
    response = await client.post(
        "/v1/webhook",
        content=body,
        headers={**basic(tenant.write_key), "X-Signature": sign(WEBHOOK_BODY)},
    )
    assert response.status_code == 200
    assert [r["message_id"] for r in rows.inbound(tenant.workspace_id)] == ["wh-1", "wh-2"]


async def test_webhook_without_secret_needs_only_the_write_key(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/webhook", content=WEBHOOK_BODY, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200
    assert rows.inbound(tenant.workspace_id)[0]["message_id"] == "wh-1"


async def test_invalid_webhook_message_is_400_and_kept(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    tenant = await signed_tenant(database_url)
    body = orjson.dumps({"type": "track", "userId": "u"})
    response = await client.post(
        "/v1/webhook", content=body, headers={**basic(tenant.write_key), "X-Signature": sign(body)}
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "event"
    assert rows.rejected(tenant.workspace_id)[0]["endpoint"] == "/v1/webhook"


async def test_preflight_allows_the_headers_analytics_js_sends(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/v1/t",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )
    assert response.status_code == 204
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "x-retry-count"} <= allowed
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_default_source_allows_any_origin_without_credentials(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/v1/t",
        content=orjson.dumps({"userId": "u", "event": "e", "writeKey": tenant.write_key}),
        headers={"Origin": "https://anywhere.example", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_source_with_allowed_origins_refuses_others(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    tenant = await create_tenant(database_url, allowed_origins=["https://app.example.com"])
    body = orjson.dumps({"userId": "u", "event": "e", "writeKey": tenant.write_key})
    allowed = await client.post(
        "/v1/t", content=body, headers={"Origin": "https://app.example.com"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = await client.post("/v1/t", content=body, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed"
    assert len(rows.inbound(tenant.workspace_id)) == 1
