"""Crashes and outages under load from Segment's Node SDK: the server killed with SIGKILL,
PostgreSQL stopped, Freshsales unreachable. Nothing acknowledged is lost, nothing is stored
twice, and the SDK's own retries carry everything through.

The two SDK tests need node (`pytest -m clients`); the Freshsales one runs in the default set.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics.client import Client as SegmentClient

from tests import clients
from tests.support.database import Rows, start_postgres, stop_postgres
from tests.support.emulator import emulator_address, running_emulator
from tests.support.servers import free_port, request_log, start_server
from tests.support.tenants import Tenant, create_tenant

MESSAGES = 1500


def sdk_load(host: str, write_key: str, prefix: str) -> subprocess.Popen[str]:
    """The Node SDK sending MESSAGES messages over about four seconds, retrying for long."""
    clients.install()
    options = {
        "host": host,
        "writeKey": write_key,
        "count": MESSAGES,
        "prefix": prefix,
        "pace": 2,
        "flushAt": 10,
        "maxRetries": 30,
    }
    return clients.start("node-sdk.mjs", options)


def read_acks(sdk: subprocess.Popen[str], at_least: int) -> list[dict[str, Any]]:
    """The SDK's lines up to its `at_least`th acknowledgement."""
    assert sdk.stdout is not None
    lines: list[dict[str, Any]] = []
    while sum("ack" in line for line in lines) < at_least:
        line = sdk.stdout.readline()
        assert line, f"the SDK stopped early: {sdk.communicate()[1]}"
        lines.append(json.loads(line))
    return lines


def finish(sdk: subprocess.Popen[str], earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SDK's lines from `earlier` to its end.

    Read through `sdk.stdout` itself, not `communicate()`: readline() may already hold the next
    lines in its buffer, and communicate() reads the pipe beneath it, which would lose them.
    The SDK writes next to nothing on stderr, so reading stdout first cannot fill that pipe.
    """
    assert sdk.stdout is not None
    assert sdk.stderr is not None
    out = sdk.stdout.read()
    err = sdk.stderr.read()
    sdk.wait(timeout=30)
    assert sdk.returncode == 0, err
    lines = earlier + [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines[-1] == {"done": True}
    return lines


def stored_ids(rows: Rows, tenant: Tenant) -> list[str]:
    return sorted(row["message_id"] for row in rows.inbound(tenant.workspace_id))


@pytest.mark.clients
def test_kill_9_under_sdk_load_loses_no_acknowledged_message(
    database_url: str, tenant: Tenant, rows: Rows, tmp_path: Path
) -> None:
    port = free_port()
    gateway = start_server(database_url, tmp_path / "gateway", port=port)
    sdk = sdk_load(gateway.url, tenant.write_key, "k9")
    try:
        before = read_acks(sdk, at_least=200)
        gateway.process.kill()  # SIGKILL: no shutdown, no flush, in-flight requests cut
        gateway.process.wait(10)
        acked_before_kill = {line["ack"] for line in before if "ack" in line}
        time.sleep(1)  # the outage itself: a second in which the SDK's requests fail
        gateway = start_server(database_url, tmp_path / "gateway", port=port)
        lines = finish(sdk, before)
    finally:
        sdk.kill()
        gateway.stop()

    stored = stored_ids(rows, tenant)
    assert acked_before_kill <= set(stored)
    assert [line for line in lines if "failed" in line] == []
    # The SDK retried what the kill cut off; a batch that was committed but not answered
    # came again and was acknowledged without being stored twice.
    assert stored == sorted(f"k9-{n}" for n in range(MESSAGES))
    assert sorted(line["ack"] for line in lines if "ack" in line) == stored


@pytest.mark.clients
def test_postgres_outage_under_sdk_load_answers_503_and_retries_land_everything(
    own_postgres: Any, tmp_path: Path
) -> None:
    url, postgres = own_postgres
    tenant = asyncio.run(create_tenant(url))
    gateway = start_server(url, tmp_path / "gateway")
    sdk = sdk_load(gateway.url, tenant.write_key, "pg")
    try:
        before = read_acks(sdk, at_least=200)
        stop_postgres(postgres)
        time.sleep(3)  # the outage itself: three seconds without a database
        start_postgres(postgres)
        lines = finish(sdk, before)
    finally:
        sdk.kill()
        gateway.stop()

    answers = Counter(
        line["status"] for line in request_log(gateway.log_path) if line["path"] == "/v1/batch"
    )
    assert set(answers) == {200, 503}, answers  # nothing else, 5xx or otherwise
    assert [line for line in lines if "failed" in line] == []
    stored = stored_ids(Rows(url), tenant)
    assert stored == sorted(f"pg-{n}" for n in range(MESSAGES))
    assert sorted(line["ack"] for line in lines if "ack" in line) == stored


def test_freshsales_down_for_a_while_then_the_outbox_catches_up(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    address = emulator_address()  # nothing listens there yet: connections are refused
    gateway = start_server(
        database_url,
        tmp_path / "gateway",
        PULSEGATE_OUTBOX_INTERVAL_SECONDS="1",
        PULSEGATE_NIGHTLY_CRON="0 0 30 2 *",
    )
    api = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {tenant.api_key}"})
    try:
        created = api.post(
            "/api/v1/destinations",
            json={
                "kind": "freshsales",
                "name": "crm",
                "api_key": "test-key",
                "domain": f"http://{address[0]}:{address[1]}",
            },
        )
        assert created.status_code == 201, created.text
        deliveries = f"/api/v1/destinations/{created.json()['id']}/deliveries?limit=100"
        sdk = SegmentClient(tenant.write_key, host=gateway.url, sync_mode=True)
        for user in range(20):
            sdk.identify(
                f"u-{user}", {"email": f"user{user}@acme.example"}, message_id=f"down-{user}"
            )

        def states() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = api.get(deliveries).json()["items"]
            return items

        deadline = time.monotonic() + 30
        while not (items := states()) or any(item["attempts"] < 2 for item in items):
            assert time.monotonic() < deadline, items
            time.sleep(0.5)
        assert len(items) == 20
        assert {item["status"] for item in items} == {"pending"}
        assert all("did not answer" in item["last_error"] for item in items)

        with running_emulator(address=address) as emulator:
            deadline = time.monotonic() + 60
            while (items := states()) and {item["status"] for item in items} != {"sent"}:
                assert time.monotonic() < deadline, items
                time.sleep(0.5)
        upserts = Counter(
            request["body"]["contact"]["emails"]
            for request in emulator.state.requests
            if request["path"].endswith("/contacts/upsert")
        )
        assert upserts == {f"user{user}@acme.example": 1 for user in range(20)}
        assert len(emulator.state.records["contacts"]) == 20
    finally:
        api.close()
        gateway.stop()
