"""Operations: /metrics counts a known workload exactly, /admin/health shows the state of
things, and every request leaves one log line with its id and nothing secret."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from pulsegate.db import migrate
from tests.support.database import Rows
from tests.support.http import basic, bearer
from tests.support.servers import LiveServer
from tests.support.tenants import ADMIN_TOKEN, Tenant, create_tenant

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample by name and labels; parsing fails on anything not Prometheus text."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def track(event: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "track", "userId": "u-1"}
    if event is not None:
        message["event"] = event
    return message


async def test_metrics_count_a_known_workload_exactly(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    batch = [track("A"), track("B"), track("C"), {"type": "identify", "userId": "u-1"}, track(None)]
    answered = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    [refusal] = answered.json()["rejected"]
    reason = refusal["details"][0]["code"]
    assert reason == "missing"
    assert (
        await client.post("/v1/track", json=track("D"), headers=basic(tenant.write_key))
    ).status_code == 200
    assert (
        await client.post("/v1/track", json=track("E"), headers=basic("not-a-key"))
    ).status_code == 401
    for _ in range(2):
        assert (await client.get("/api/v1/accounts", headers=bearer(tenant))).status_code == 200
    started = (await client.post("/admin/jobs/retention/runs", headers=ADMIN)).json()
    for _ in range(100):
        run = await client.get(f"/admin/jobs/retention/runs/{started['id']}", headers=ADMIN)
        if run.json()["status"] != "running":
            break
        await asyncio.sleep(0.05)

    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)

    received = "pulsegate_messages_received_total"
    assert value(found, received, type="track") == 6  # 4 in the batch, 2 alone
    assert value(found, received, type="identify") == 1
    assert value(found, "pulsegate_messages_stored_total", type="track") == 4
    assert value(found, "pulsegate_messages_stored_total", type="identify") == 1
    refused = "pulsegate_messages_refused_total"
    assert value(found, refused, type="track", reason=reason) == 1
    assert value(found, refused, type="track", reason="invalid_write_key") == 1
    # Six rows were committed (five of the batch, one alone), in one transaction or more.
    assert value(found, "pulsegate_writer_batch_messages_sum") == 6
    assert 1 <= value(found, "pulsegate_writer_batch_messages_count") <= 2

    latency = "pulsegate_http_request_duration_seconds_count"
    assert value(found, latency, method="POST", route="/v1/batch", status="200") == 1
    assert value(found, latency, method="POST", route="/v1/track", status="200") == 1
    assert value(found, latency, method="POST", route="/v1/track", status="401") == 1
    assert value(found, latency, method="GET", route="/api/v1/accounts", status="200") == 2
    assert value(found, latency, method="POST", route="/admin/jobs/{name}/runs", status="202") == 1

    jobs = "pulsegate_job_duration_seconds_count"
    assert value(found, jobs, job="retention", status="succeeded") == 1
    assert value(found, "pulsegate_job_failures_total", job="retention") == 0
    for status in ("pending", "sent", "dead"):
        assert ("pulsegate_deliveries", frozenset({("status", status)})) in found
    assert value(found, "pulsegate_inbound_backlog_messages") >= 0
    assert value(found, "pulsegate_projector_lag_seconds") >= 0


async def test_admin_health_shows_backlog_outbox_rejected_and_every_job(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, database_url: str
) -> None:
    await client.post("/v1/track", json=track(None), headers=basic(tenant.write_key))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO job_runs (job, trigger, status, started_at, finished_at, error, host) "
            "VALUES ('retention', 'schedule', 'failed', now(), now(), 'boom', 'elsewhere:1')"
        )
    assert (await client.get("/admin/health")).status_code == 401
    health = (await client.get("/admin/health", headers=ADMIN)).json()

    assert health["version"] == "0.1.0"
    assert health["migration"] == migrate.head_revision()
    assert set(health["inbound"]) == {"backlog", "projector_lag_seconds", "writer_pending"}
    assert health["rejected"]["last_24h_by_reason"]["missing"] >= 1
    [total] = rows.query("SELECT count(*) AS n FROM rejected_messages")
    assert health["rejected"]["total"] >= total["n"] - 1
    [dead] = rows.query("SELECT count(*) AS n FROM deliveries WHERE status = 'dead'")
    assert health["outbox"]["dead"] == dead["n"]
    by_name = {job["name"]: job["last_run"] for job in health["jobs"]}
    assert set(by_name) >= {
        "outbox_delivery",
        "session_sweep",
        "nightly",
        "connector_sync",
        "health_scores",
        "reverse_sync",
        "retention",
    }
    assert (by_name["retention"]["status"], by_name["retention"]["error"]) == ("failed", "boom")
    assert "the last run of retention failed" in health["problems"]
    assert health["status"] == "attention"

    tables = health["storage"]["tables"]
    assert set(tables) >= {"inbound_messages", "events", "sessions", "rejected_messages"}
    log_bytes = (
        "SELECT sum(pg_total_relation_size(relid))::bigint AS bytes "
        "FROM pg_partition_tree('inbound_messages')"
    )
    # The size as the database tells it around each read: autovacuum (and other tests'
    # servers on the shared database) may grow the log between two reads.
    [before] = rows.query(log_bytes)
    scraped = (await client.get("/metrics")).text
    [after] = rows.query(log_bytes)
    assert 0 < tables["inbound_messages"] <= after["bytes"]
    [line] = [
        line
        for line in scraped.splitlines()
        if line.startswith('pulsegate_table_bytes{table="inbound_messages"}')
    ]
    assert before["bytes"] <= float(line.split()[-1]) <= after["bytes"]


def test_every_request_leaves_one_log_line_with_its_id_and_no_secret(
    live_server: LiveServer, database_url: str
) -> None:
    tenant = asyncio.run(create_tenant(database_url))
    marker = "req-check-7f3a"
    sent = httpx.post(
        f"{live_server.url}/v1/track?writeKey={tenant.write_key}",
        json={"type": "track", "userId": "u-1", "event": "Secret Payload Event"},
        headers={"X-Request-ID": marker},
    )
    assert (sent.status_code, sent.headers["x-request-id"]) == (200, marker)
    numbered = httpx.get(
        f"{live_server.url}/api/v1/accounts", headers={"Authorization": f"Bearer {tenant.api_key}"}
    )
    assert numbered.headers["x-request-id"]

    lines = []
    for _ in range(50):
        lines = [
            json.loads(line)
            for line in live_server.log_path.read_text().splitlines()
            if line.startswith("{") and '"http.request"' in line
        ]
        if any(line.get("request_id") == numbered.headers["x-request-id"] for line in lines):
            break
        asyncio.run(asyncio.sleep(0.1))
    [ingest_line] = [line for line in lines if line.get("request_id") == marker]
    assert {key: ingest_line[key] for key in ("method", "path", "route", "status")} == {
        "method": "POST",
        "path": "/v1/track",
        "route": "/v1/track",
        "status": 200,
    }
    assert isinstance(ingest_line["duration_ms"], float | int)
    [api_line] = [
        line for line in lines if line.get("request_id") == numbered.headers["x-request-id"]
    ]
    assert (api_line["route"], api_line["status"]) == ("/api/v1/accounts", 200)
    log_text = live_server.log_path.read_text()
    for secret in (tenant.write_key, tenant.api_key, "Secret Payload Event"):
        assert secret not in log_text
