"""What `pulsegate serve` writes to its log: JSON lines only (its own events and those of
uvicorn, alembic and APScheduler alike), no secret, and no chatter while idle."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from pulsegate.db import migrate
from tests.support.http import basic
from tests.support.servers import start_server
from tests.support.tenants import create_tenant
from tests.support.waiting import eventually_sync


def test_every_line_is_json_and_no_line_holds_a_key(scratch_database: str, tmp_path: Path) -> None:
    """On a database of its own: a server's jobs serve every workspace of its database, and
    the shared one holds other tests' deliveries to unreachable destinations."""
    # A workspace before the first start, which then prints no credentials (on stdout, for
    # the person who started it; the log is stderr's, but the test reads both).
    migrate.upgrade(scratch_database)
    tenant = asyncio.run(create_tenant(scratch_database))
    write_key = tenant.write_key
    server = start_server(scratch_database, tmp_path / "data", PULSEGATE_LOG_LEVEL="INFO")
    try:
        settings = httpx.get(f"{server.url}/v1/projects/{write_key}/settings")
        assert settings.status_code == 200
        sent = httpx.post(
            f"{server.url}/v1/track",
            json={"userId": "u", "event": "Logged"},
            headers=basic(write_key),
        )
        assert sent.status_code == 200
        # Once the background process has started (after the HTTP one is ready) and the
        # request's line is out, the server has nothing more to say.
        eventually_sync(
            lambda: server.log_path.read_text(),
            lambda text: '"worker.started"' in text and '"/v1/track"' in text,
            what="the worker to start",
        )
        time.sleep(1)
        size_before_idle = server.log_path.stat().st_size
        time.sleep(7)  # more than two intervals of the shortest job (outbox, every 3 s)
        idle = server.log_path.read_bytes()[size_before_idle:].decode()
    finally:
        server.stop()
    lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all("event" in record and "level" in record for record in records)
    loggers = {record.get("logger") for record in records}
    assert "uvicorn.error" in loggers  # uvicorn's own lines, rendered by structlog
    assert all(write_key not in line for line in lines)
    [settings_line] = [
        r for r in records if r["event"] == "http.request" and "settings" in r.get("path", "")
    ]
    assert settings_line["path"] == "/v1/projects/{write_key}/settings"
    # The outbox runs every 3 s and finds nothing due: no line says so (nor APScheduler's).
    chatter = [
        line
        for line in idle.splitlines()
        if '"apscheduler' in line or '"job.started"' in line or '"status": "idle"' in line
    ]
    assert chatter == []
    assert '"outbox_delivery"' not in idle
