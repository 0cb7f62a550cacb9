"""Segment's JavaScript SDKs, as installed from the npm registry into clients/.

`npm ci` runs once, when clients/node_modules is missing. The scripts print one JSON line per
thing they saw (see each script's header).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CLIENTS = Path(__file__).resolve().parents[1] / "clients"


def install() -> Path:
    if not (CLIENTS / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True)
    return CLIENTS


def chromium() -> str:
    path = os.environ.get("PULSEGATE_CHROMIUM") or shutil.which("chromium")
    assert path, "Chromium is needed: apt-get install chromium (or set PULSEGATE_CHROMIUM)"
    return path


def build_test_page(into: Path) -> Path:
    """The test page and analytics.js bundled from npm into one file, in `into`."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(CLIENTS / "browser" / "index.html", into / "index.html")
    subprocess.run(
        [
            str(CLIENTS / "node_modules" / ".bin" / "esbuild"),
            "browser/page.js",
            "--bundle",
            "--format=iife",
            "--log-level=warning",
            f"--outfile={into / 'analytics.js'}",
        ],
        cwd=CLIENTS,
        check=True,
    )
    return into


@contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """Serve `directory` over HTTP on a port of its own (so another origin than the gateway)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(script: str, options: dict[str, Any], timeout: float = 180) -> list[dict[str, Any]]:
    """Run a client script to its end; its JSON lines."""
    result = subprocess.run(
        ["node", script, json.dumps(options)],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def start(script: str, options: dict[str, Any]) -> subprocess.Popen[str]:
    """Start a client script; read its JSON lines from `.stdout` as it goes."""
    return subprocess.Popen(
        ["node", script, json.dumps(options)],
        cwd=CLIENTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
