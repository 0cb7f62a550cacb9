"""No database transaction stays open while pulsegate waits on another server.

Freshsales may take seconds to answer. Here it takes three, for every request, while a
connector runs and its field catalog is asked for several times at once; the gateway has a
small connection pool. Ingest must keep answering 200 throughout, and no connection of
pulsegate's may sit idle in a transaction while the calls are in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pulsegate.app import create_app
from pulsegate.settings import Settings
from tests.support.database import Rows
from tests.support.emulator import RunningEmulator, running_emulator
from tests.support.http import basic, bearer
from tests.support.tenants import Tenant

DELAY_SECONDS = 3
POOL_SIZE = 2  # at most 4 connections: 2 and as many again in overflow

CONNECTOR = {
    "kind": "freshsales",
    "name": "slow crm",
    "api_key": "test-key",
    "mappings": [{"field": "job_title", "target": "user_dimension", "key": "job"}],
    "match": {"user": {"by": "email"}},
}


@pytest.fixture
async def small_pool_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings.model_copy(update={"database_pool_size": POOL_SIZE}))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def slow_freshsales() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


def slow_down(emulator: RunningEmulator, seconds: float) -> None:
    response = httpx.post(f"{emulator.url}/_emulator/faults", json={"delay_seconds": seconds})
    assert response.status_code == 200, response.text


def waiting_in_transaction(rows: Rows) -> list[dict[str, Any]]:
    """pulsegate's connections idle inside a transaction for more than a second."""
    return rows.query(
        """
        SELECT pid, application_name, now() - state_change AS idle_for, query
        FROM pg_stat_activity
        WHERE application_name LIKE 'pulsegate:%%' AND state = 'idle in transaction'
          AND now() - state_change > interval '1 second'
        """
    )


async def test_a_slow_freshsales_holds_no_transaction_and_ingest_keeps_answering(
    small_pool_app: FastAPI,
    slow_freshsales: RunningEmulator,
    tenant: Tenant,
    rows: Rows,
) -> None:
    transport = httpx.ASGITransport(app=small_pool_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        created = await client.post(
            "/api/v1/connectors",
            json={**CONNECTOR, "domain": slow_freshsales.url},
            headers=bearer(tenant),
        )
        assert created.status_code == 201, created.text
        connector = created.json()["id"]
        slow_down(slow_freshsales, DELAY_SECONDS)
        try:
            run = await client.post(
                f"/api/v1/connectors/{connector}/runs", json={}, headers=bearer(tenant)
            )
            assert run.status_code == 202, run.text
            catalogs = [
                asyncio.create_task(
                    client.get(f"/api/v1/connectors/{connector}/fields", headers=bearer(tenant))
                )
                for _ in range(POOL_SIZE * 2)
            ]
            answers, held = [], []
            started = time.monotonic()
            while time.monotonic() - started < DELAY_SECONDS + 1:
                response = await client.post(
                    "/v1/track",
                    json={"userId": "u1", "event": "Clicked"},
                    headers=basic(tenant.write_key),
                )
                answers.append(response.status_code)
                held += await asyncio.to_thread(waiting_in_transaction, rows)
                await asyncio.sleep(0.2)
            fields = await asyncio.gather(*catalogs)
        finally:
            slow_down(slow_freshsales, 0)
            # The shared database's nightly job runs every connector: leave none behind.
            rows.query("DELETE FROM connectors WHERE id = %s RETURNING 1", connector)
        assert held == []
        assert set(answers) == {200}, answers
        assert len(answers) >= DELAY_SECONDS * 3
        assert {response.status_code for response in fields} == {200}
        assert "job_title" in {field["name"] for field in fields[0].json()["items"]}
    stored = rows.query(
        "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s AND type = 'track'",
        tenant.workspace_id,
    )
    assert stored[0]["n"] == len(answers)
