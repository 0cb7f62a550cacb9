"""Sending what the clients send: Segment calls with a write key, API calls with a key."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Protocol

import httpx

from tests.support.tenants import Tenant
from tests.support.waiting import eventually

SECRET = "shh-webhook-secret"  # the webhook secret of the tests' signing sources


class HasKeys(Protocol):
    write_key: str
    api_key: str


def basic(write_key: str, *, colon: bool = True) -> dict[str, str]:
    """The write key as Segment's SDKs send it: the Basic-auth user name."""
    token = base64.b64encode(f"{write_key}{':' if colon else ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(tenant: HasKeys) -> dict[str, str]:
    """The workspace API key, as backends send it to the REST API."""
    return {"Authorization": f"Bearer {tenant.api_key}"}


async def send(client: httpx.AsyncClient, tenant: HasKeys, batch: list[dict[str, Any]]) -> None:
    """One `/v1/batch` call, which must be accepted whole."""
    response = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.json() == {"success": True}, response.text


async def get_when(
    client: httpx.AsyncClient, tenant: Tenant, path: str, ready: Any = None, timeout: float = 10
) -> httpx.Response:
    """GET `path` until it answers 200 (and `ready(body)` holds): the projector runs in the app."""
    return await eventually(
        lambda: client.get(path, headers=bearer(tenant)),
        lambda response: response.status_code == 200 and (ready is None or ready(response.json())),
        timeout=timeout,
        what=f"GET {path} to answer as expected",
    )


async def set_choices(
    client: httpx.AsyncClient, tenant: Tenant, tiers: list[str], stages: list[str]
) -> None:
    for path, names in (("tiers", tiers), ("lifecycle-stages", stages)):
        response = await client.put(
            f"/api/v1/settings/{path}",
            json={"items": [{"name": name} for name in names]},
            headers=bearer(tenant),
        )
        assert response.status_code == 200, response.text


async def wait_for_events(
    client: httpx.AsyncClient, tenant: Tenant, count: int
) -> list[dict[str, Any]]:
    """The app's own projector applies what was ingested; wait until the API shows `count`."""

    async def events() -> list[dict[str, Any]]:
        response = await client.get("/api/v1/events?limit=1000", headers=bearer(tenant))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    return await eventually(events, lambda items: len(items) >= count, what=f"{count} events")


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


# Formatted as Segment's Node.js webhook sends it: compact, with a float Python would re-format.
WEBHOOK_BODY = (
    b'{"version":1,"type":"track","userId":"u-7","event":"Order Completed",'
    b'"properties":{"revenue":1e2,"total":10.50},"messageId":"wh-1",'
    b'"timestamp":"2024-05-01T10:00:00.000Z"}'
)
