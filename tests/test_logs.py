"""What `pulsegate serve` writes to its log: JSON lines only (its own events and those of
uvicorn, alembic and APScheduler alike), no secret, and no chatter while idle."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.support.http import basic
from tests.support.servers import new_tenant, start_server


def test_every_line_is_json_and_no_line_holds_a_key(database_url: str, tmp_path: Path) -> None:
    server = start_server(database_url, tmp_path / "data", PULSEGATE_LOG_LEVEL="INFO")
    try:
        tenant = new_tenant(server)
        write_key = tenant["write_key"]
        settings = httpx.get(f"{server.url}/v1/projects/{write_key}/settings")
        assert settings.status_code == 200
        sent = httpx.post(
            f"{server.url}/v1/track",
            json={"userId": "u", "event": "Logged"},
            headers=basic(write_key),
        )
        assert sent.status_code == 200
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
    assert idle == "", idle  # the scheduler's runs and the projector's rounds say nothing
