"""No secret in any log line: the logs of the whole test run, searched for every key it created.

conftest.py runs this module last, so that it reads what every other test made servers and the
test process log; run alone, its own traffic is what it searches. tests/support/leaks.py says
what counts as a secret and where the logs are.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
import pytest

from pulsegate.security import hash_key
from tests.support import leaks
from tests.support.servers import cli_json, start_server
from tests.support.tenants import ADMIN_TOKEN, SECRET_KEY


def stored_key_hashes(database_url: str) -> set[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT write_key_hash FROM sources"
            " UNION ALL SELECT previous_write_key_hash FROM sources"
            " WHERE previous_write_key_hash IS NOT NULL"
            " UNION ALL SELECT key_hash FROM api_keys"
            " UNION ALL SELECT token_hash FROM admin_tokens"
        ).fetchall()
    return {row[0] for row in rows}


def test_no_secret_in_any_log_line_of_the_run(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    # Keys in every place a request may carry them, through a real server: the log must name
    # none of them (the settings route's path and the query string included).
    server = start_server(database_url, tmp_path / "keys", PULSEGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    try:
        workspace = cli_json(server.env, "workspace", "create", f"leaks-{tmp_path.name[-8:]}")
        source = cli_json(server.env, "source", "create", workspace["name"], "web")
        api_key = cli_json(server.env, "apikey", "create", workspace["name"])["api_key"]
        write_key = source["write_key"]
        message = {"userId": "u-1", "event": "Logged"}
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/v1/track", json=message, auth=(write_key, "")).status_code == 200
            assert http.post(f"/v1/track?writeKey={write_key}", json=message).status_code == 200
            assert http.post("/v1/t", json={**message, "writeKey": write_key}).status_code == 200
            headers = {"X-Write-Key": write_key}
            assert http.post("/v1/track", json=message, headers=headers).status_code == 200
            assert http.get(f"/v1/projects/{write_key}/settings").status_code == 200
            wrong = "pgk_" + api_key[4:][::-1]
            leaks.remember(wrong)
            for key in (api_key, wrong):
                http.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"})
            admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            rotated = http.post(
                f"/admin/workspaces/{workspace['name']}/sources/web/rotate",
                json={"grace_seconds": 60},
                headers=admin,
            )
            leaks.remember(rotated.json()["write_key"])
            assert http.get(f"/v1/projects/{rotated.json()['write_key']}/settings").is_success
    finally:
        server.stop()
    lines = server.log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    # The requests above were logged.
    assert sum(record.get("event") == "http.request" for record in records) >= 9

    root = tmp_path_factory.getbasetemp()
    known = leaks.CREATED | leaks.credentials_files(root) | {ADMIN_TOKEN, SECRET_KEY}
    assert {write_key, api_key} <= known
    files = leaks.log_files(root)
    assert server.log_path in files
    found = leaks.leaks(leaks.log_lines(files), known, stored_key_hashes(database_url))
    assert found == [], f"{len(found)} log lines name a secret, first: {found[:5]}"


def test_the_search_finds_a_key_however_it_was_created(tmp_path: Path) -> None:
    log = tmp_path / "a-server.log"
    created, stored, shaped = "Kq3" * 10 + "xy", "Zr7" * 10 + "ab", "pga_" + "w" * 43
    lines = [
        {"event": "http.request", "path": f"/v1/projects/{created}/settings"},
        {"event": "auth.failed", "authorization": f"Basic {stored}"},
        {"event": "job.started", "token": shaped},
        {"event": "http.request", "path": "/v1/projects/{write_key}/settings"},
    ]
    log.write_text(
        "\n".join([*map(json.dumps, lines), "first start: created workspace", f"  {created}"])
    )
    found = leaks.leaks(leaks.log_lines([log]), {created}, {hash_key(stored)})
    assert found == [
        leaks.Leak("a-server.log:1", "created", "Kq3Kq3"),
        leaks.Leak("a-server.log:2", "stored", "Zr7Zr7"),
        leaks.Leak("a-server.log:3", "shaped", "pga_ww"),
    ]
