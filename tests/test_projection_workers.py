"""Several projector workers on one database: the workspaces are shared, each message is
applied once and in its workspace's order, and a killed worker's share goes to the other."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from pulsegate.db import migrate
from tests.support.servers import LiveServer, start_server
from tests.support.tenants import SECRET_KEY, Tenant, create_tenant
from tests.support.waiting import eventually

# Every insert the projector makes into `events` leaves a row here, before the unique key can
# drop a repeat: a message applied twice shows twice; a rolled-back batch leaves nothing.
AUDIT = """
CREATE TABLE projected (seq bigserial, workspace_id uuid, message_id text, by text);
CREATE FUNCTION audit_projected() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO projected (workspace_id, message_id, by)
    VALUES (NEW.workspace_id, NEW.message_id, current_setting('application_name'));
    RETURN NEW;
END $$;
CREATE TRIGGER audit_projected BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION audit_projected();
"""
BATCHES = 60
PER_BATCH = 100


@pytest.fixture
def audited_database(scratch_database: str) -> str:
    migrate.upgrade(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute(AUDIT)
    return scratch_database


def start_worker(database_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULSEGATE_")},
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_DATA_DIR": str(data_dir),
        "PULSEGATE_SECRET_KEY": SECRET_KEY,
        "PULSEGATE_SCHEDULER_ENABLED": "false",
        # Short pauses between rounds, so that both are often awake while traffic arrives:
        # with the default's half second, one could drain a short burst before the other woke.
        "PULSEGATE_PROJECTOR_INTERVAL_MS": "50",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "pulsegate", "worker"],
        env=env,
        stdout=(data_dir / "worker.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def ingest_only(audited_database: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server that stores and does not project: the workers do all the projecting."""
    server = start_server(
        audited_database,
        tmp_path / "serve",
        PULSEGATE_PROJECTOR_ENABLED="false",
        PULSEGATE_SCHEDULER_ENABLED="false",
    )
    yield server
    server.stop()


def send_traffic(server: LiveServer, tenant: Tenant, prefix: str) -> None:
    with httpx.Client(base_url=server.url, auth=(tenant.write_key, ""), timeout=30) as http:
        for number in range(BATCHES):
            batch = [
                {
                    "type": "track",
                    "userId": f"u-{n % 7}",
                    "event": "Opened",
                    "messageId": f"{prefix}-{number:03}-{n:03}",
                }
                for n in range(PER_BATCH)
            ]
            assert http.post("/v1/batch", json={"batch": batch}).json() == {"success": True}


def projected(database_url: str) -> dict[str, list[tuple[int, str]]]:
    """Per workspace: (log id, message id) of every projection, in the order they happened."""
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT p.workspace_id, m.id, p.message_id FROM projected p "
            "JOIN inbound_messages m USING (workspace_id, message_id) ORDER BY p.seq"
        ).fetchall()
    by_workspace: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for workspace_id, log_id, message_id in found:
        by_workspace[str(workspace_id)].append((log_id, message_id))
    return by_workspace


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


async def test_two_workers_apply_every_message_once_in_order_and_survive_a_kill(
    ingest_only: LiveServer, audited_database: str, tmp_path: Path
) -> None:
    tenants = [await create_tenant(audited_database) for _ in range(2)]
    workers = [start_worker(audited_database, tmp_path / f"worker-{n}") for n in range(2)]
    try:
        # Both running before any traffic: otherwise the first up may drain it all alone.
        await eventually(
            lambda: all(
                "worker.started" in (tmp_path / f"worker-{n}" / "worker.log").read_text()
                for n in range(2)
            ),
            timeout=60,
            what="both workers started",
        )
        senders = [
            threading.Thread(target=send_traffic, args=(ingest_only, tenant, f"w{n}"))
            for n, tenant in enumerate(tenants)
        ]
        for sender in senders:
            sender.start()
        # Once both are projecting, kill one with work in flight: a batch cut short rolls
        # back with its position.
        await eventually(
            lambda: count(audited_database, "SELECT count(DISTINCT by) FROM projected") == 2,
            timeout=60,
            what="both workers projecting",
        )
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        for sender in senders:
            await asyncio.to_thread(sender.join)
        total = 2 * BATCHES * PER_BATCH
        assert count(audited_database, "SELECT count(*) FROM inbound_messages") == total
        await eventually(
            lambda: count(audited_database, "SELECT count(*) FROM events") == total,
            timeout=60,
            what="the surviving worker catching up",
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(15)

    by_workspace = projected(audited_database)
    assert set(by_workspace) == {str(tenant.workspace_id) for tenant in tenants}
    for applied in by_workspace.values():
        message_ids = [message_id for _, message_id in applied]
        assert len(message_ids) == len(set(message_ids)) == BATCHES * PER_BATCH  # once each
        log_ids = [log_id for log_id, _ in applied]
        assert log_ids == sorted(log_ids)  # in the workspace's log order
    # Both shared the work: the killed one until it died, the other throughout.
    with psycopg.connect(audited_database) as conn:
        names = {row[0] for row in conn.execute("SELECT DISTINCT by FROM projected")}
    assert names == {f"pulsegate:{worker.pid}" for worker in workers}
