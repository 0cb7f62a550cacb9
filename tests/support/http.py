"""Sending what the clients send: Segment calls with a write key, API calls with a key."""

from __future__ import annotations

import base64
from typing import Any, Protocol

import httpx


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
