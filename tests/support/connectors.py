"""Connectors for tests: the usual mappings, the pulsegate side of a CRM, and the API calls
that create, run and inspect a connector.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest

from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.tenants import Tenant
from tests.support.waiting import eventually, settle

PLAN_FIELD = {"name": "cf_plan", "label": "Plan", "type": "dropdown", "default": False}


MAPPINGS = [
    {"field": "cf_plan", "target": "account_dimension", "key": "plan"},
    {"field": "cf_mrr", "target": "account_metric", "key": "mrr"},
    {"field": "job_title", "target": "user_dimension", "key": "job"},
]


MATCH = {"account": {"by": "id", "field": "cf_pulsegate_id"}, "user": {"by": "email"}}


def group(account_id: str, name: str) -> dict[str, Any]:
    traits = {"name": name, "createdAt": "2024-01-01T00:00:00Z"}
    return {"type": "group", "userId": "setup", "groupId": account_id, "traits": traits}


@pytest.fixture
async def crm(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> None:
    """pulsegate's side: four accounts and one user, through the tracking API."""
    await send(
        client,
        tenant,
        [
            group("acme", "Acme Corp"),
            group("globex", "Globex"),
            group("12345", "Numbered"),
            group("initech", "Initech"),
            {"type": "identify", "userId": "ana", "traits": {"email": "ana@acme.example"}},
        ],
    )
    await settle(client, tenant, rows)


@pytest.fixture
async def connectors(rows: Rows) -> AsyncIterator[list[str]]:
    """Ids of the connectors a test made, removed afterwards: `pulsegate jobs run
    connector_sync` runs every connector of the shared database."""
    made: list[str] = []
    yield made
    for connector_id in made:
        rows.query("DELETE FROM connectors WHERE id = %s RETURNING 1", connector_id)


async def create(
    client: httpx.AsyncClient, tenant: Tenant, made: list[str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/api/v1/connectors", json=body, headers=bearer(tenant))
    assert response.status_code == 201, response.text
    made.append(response.json()["id"])
    created: dict[str, Any] = response.json()
    return created


async def run_now(
    client: httpx.AsyncClient, tenant: Tenant, connector_id: str, **body: Any
) -> dict[str, Any]:
    """Start a run through the API and follow it until it ends."""
    base = f"/api/v1/connectors/{connector_id}/runs"
    started = await client.post(base, json=body, headers=bearer(tenant))
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"
    run: dict[str, Any] = await eventually(
        lambda: _json(client.get(f"{base}/{started.json()['id']}", headers=bearer(tenant))),
        lambda run: run["status"] != "running",
        timeout=60,
        what="the run to end",
    )
    return run


async def _json(response: Awaitable[httpx.Response]) -> Any:
    return (await response).json()


async def issues(
    client: httpx.AsyncClient, tenant: Tenant, connector_id: str, run_id: int
) -> list[dict[str, Any]]:
    path = f"/api/v1/connectors/{connector_id}/runs/{run_id}/issues?limit=1000"
    response = await client.get(path, headers=bearer(tenant))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


async def account(client: httpx.AsyncClient, tenant: Tenant, account_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/accounts/{account_id}", headers=bearer(tenant))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def history(client: httpx.AsyncClient, tenant: Tenant, account_id: str) -> list[Any]:
    path = f"/api/v1/accounts/{account_id}/metrics/mrr"
    response = await client.get(path, headers=bearer(tenant))
    assert response.status_code == 200, response.text
    return [(item["date"], item["value"]) for item in response.json()["items"]]
