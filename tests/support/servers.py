"""Real servers: `pulsegate serve` in a process of its own, and the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support import leaks
from tests.support.tenants import SECRET_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_server(
    database_url: str | None, data_dir: Path, *options: str, port: int | None = None, **env: str
) -> LiveServer:
    """`pulsegate serve` in its own process on a free port (or `port`), waited for until ready.

    Without a database URL it runs as a new user would: on the embedded PostgreSQL.
    """
    port = port or free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULSEGATE_")},
        "PULSEGATE_DATA_DIR": str(data_dir),
        "PULSEGATE_SECRET_KEY": SECRET_KEY,
        "PULSEGATE_LOG_FORMAT": "json",
        **env,
    }
    if database_url is not None:
        full_env["PULSEGATE_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "pulsegate", "serve", "--port", str(port), *options],
        env=full_env,
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(f"http://127.0.0.1:{port}", process, full_env, log_path)
    return wait_until_ready(server)


def wait_until_ready(server: LiveServer) -> LiveServer:
    process, log_path = server.process, server.log_path
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pulsegate serve exited:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"pulsegate serve did not become ready:\n{log_path.read_text()}")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pulsegate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    created: dict[str, Any] = json.loads(result.stdout)
    leaks.remember_fields(created)
    return created


def request_log(log_path: Path) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == "http.request"]


def new_tenant(server: LiveServer) -> dict[str, Any]:
    name = f"sdk-{uuid.uuid4().hex[:10]}"
    workspace = cli_json(server.env, "workspace", "create", name)
    source = cli_json(server.env, "source", "create", name, "backend")
    assert source["workspace_id"] == workspace["id"]
    return source
