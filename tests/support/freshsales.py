"""Freshsales destinations for tests: connecting one to the emulator, its deliveries, a clock
the outbox can be given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.emulator import RunningEmulator
from tests.support.http import bearer
from tests.support.tenants import Tenant
from tests.support.waiting import eventually


class SimulatedClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def connect(
    client: httpx.AsyncClient, tenant: Tenant, emulator: RunningEmulator, **options: Any
) -> str:
    response = await client.post(
        "/api/v1/destinations",
        json={
            "kind": "freshsales",
            "name": "crm",
            "domain": emulator.url,
            "api_key": "test-key",
            **options,
        },
        headers=bearer(tenant),
    )
    assert response.status_code == 201, response.text
    assert "api_key" not in response.json()
    return str(response.json()["id"])


async def deliveries(
    client: httpx.AsyncClient, tenant: Tenant, destination: str, count: int
) -> list[dict[str, Any]]:
    """The destination's deliveries, once the projector has queued `count` of them."""

    async def listed() -> list[dict[str, Any]]:
        path = f"/api/v1/destinations/{destination}/deliveries?limit=1000"
        items: list[dict[str, Any]] = (await client.get(path, headers=bearer(tenant))).json()[
            "items"
        ]
        return items

    return await eventually(
        listed, lambda items: len(items) >= count, what=f"{count} deliveries queued"
    )
