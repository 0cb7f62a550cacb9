"""A 200 only after COMMIT: forced write failures and a database outage."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from segment.analytics.client import Client as SegmentClient

from tests.support.database import Rows, failing_inserts, start_postgres, stop_postgres
from tests.support.http import basic
from tests.support.servers import start_server
from tests.support.tenants import Tenant, create_tenant


@pytest.fixture
def exploding_inserts(database_url: str) -> Iterator[None]:
    with failing_inserts(database_url, table="inbound_messages", prefix="explode-"):
        yield


@pytest.mark.usefixtures("exploding_inserts")
async def test_failed_storing_transaction_answers_5xx_and_spares_its_neighbours(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    async def send(message_id: str) -> httpx.Response:
        return await client.post(
            "/v1/track",
            json={"userId": "u", "event": "e", "messageId": message_id},
            headers=basic(tenant.write_key),
        )

    # Sent together, so the writer flushes them in one transaction, which fails.
    responses = await asyncio.gather(*(send(f"fine-{i}") for i in range(10)), send("explode-1"))
    *fine, exploded = responses
    assert exploded.status_code == 500
    assert exploded.json()["code"] == "storage_failed"
    assert exploded.json()["success"] is False
    assert {r.status_code for r in fine} == {200}
    stored = {row["message_id"] for row in rows.inbound(tenant.workspace_id)}
    assert stored == {f"fine-{i}" for i in range(10)}


def test_database_outage_answers_503_and_sdk_retries_land_everything(
    own_postgres: Any, tmp_path: Path
) -> None:
    url, postgres = own_postgres
    tenant = asyncio.run(create_tenant(url))
    gateway = start_server(url, tmp_path / "gateway")
    try:
        warm = httpx.post(
            f"{gateway.url}/v1/track",
            json={"userId": "u", "event": "before", "messageId": "before"},
            auth=(tenant.write_key, ""),
        )
        assert warm.status_code == 200

        stop_postgres(postgres)
        during = httpx.post(
            f"{gateway.url}/v1/track",
            json={"userId": "u", "event": "during", "messageId": "probe"},
            auth=(tenant.write_key, ""),
            timeout=30,
        )
        assert during.status_code == 503
        assert during.json()["code"] == "database_unavailable"
        assert int(during.headers["Retry-After"]) > 0
        ready = httpx.get(f"{gateway.url}/readyz", timeout=30)
        assert ready.status_code == 503

        errors: list[Any] = []
        client = SegmentClient(
            tenant.write_key,
            host=gateway.url,
            on_error=lambda error, batch: errors.append(error),
            upload_interval=0.05,
            max_retries=12,
        )
        for number in range(50):
            client.track(user_id="u", event="during outage", message_id=f"outage-{number}")
        restart = threading.Timer(3.0, start_postgres, args=[postgres])
        restart.start()
        client.flush()  # blocks while the SDK retries through the 503s
        client.shutdown()
        restart.join()
        assert errors == []
    finally:
        gateway.stop()

    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT message_id FROM inbound_messages WHERE workspace_id = %s",
            (tenant.workspace_id,),
        ).fetchall()
    assert sorted(row[0] for row in stored) == sorted(
        ["before", *(f"outage-{n}" for n in range(50))]
    )
    assert "ingest.flush.unavailable" in gateway.log_path.read_text()
