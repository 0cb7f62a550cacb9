"""Secrets the test run created, the logs it wrote, and a search of the one in the other.

A run writes logs in two places: servers started as processes write theirs to `*-server.log`
files under the run's temporary directory (tests/support/servers.py), and the test process
itself (the app under the ASGI transport) to `in-process.log` there, besides pytest's capture
(conftest.py sets that up). tests/test_secrets_in_logs.py searches them all for:
- every secret the helpers saw created: tenants' write keys, API keys and webhook secrets,
  what the CLI printed, what admin routes answered, first starts' credentials files;
- every token that hashes to a write key, API key or admin token stored in the database, so a
  key a test created through a path no helper sees is found too;
- anything shaped like an API key or admin token (`pgk_`, `pga_`), ours or not.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pulsegate.security import hash_key

CREATED: set[str] = set()
SECRET_FIELDS = ("write_key", "api_key", "admin_token", "webhook_secret", "secret", "token")
IN_PROCESS_LOG = "in-process.log"

# Write keys are 32 URL-safe characters (like Segment's); prefixed keys are longer.
TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{24,64}(?![A-Za-z0-9_-])")
PREFIXED = re.compile(r"\bpg[ka]_[A-Za-z0-9_-]{20,}")


def remember(*secrets: str | None) -> None:
    CREATED.update(secret for secret in secrets if secret)


def remember_fields(value: Any) -> None:
    """Every secret-named field of a JSON answer, however deep."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_FIELDS and isinstance(item, str):
                remember(item)
            else:
                remember_fields(item)
    elif isinstance(value, list):
        for item in value:
            remember_fields(item)


def credentials_files(root: Path) -> set[str]:
    """The secrets of every first start's credentials file under `root`."""
    found: set[str] = set()
    for path in root.rglob("credentials.json"):
        credentials = json.loads(path.read_text())
        found.update(credentials[field] for field in SECRET_FIELDS if field in credentials)
    return found


def log_files(root: Path) -> list[Path]:
    return sorted(
        path for path in root.rglob("*.log") if path.name.endswith("-server.log")
    ) + sorted(root.rglob(IN_PROCESS_LOG))


def log_lines(paths: Iterable[Path]) -> Iterator[tuple[Path, int, str]]:
    """The log lines of the files: JSON objects with an `event` (what a first start prints
    on stdout by design, its one-time credentials, is not a log line)."""
    for path in paths:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith("{") and '"event"' in line:
                yield path, number, line


@dataclass(frozen=True)
class Leak:
    where: str  # file:line
    kind: str  # created (a secret the run saw made), stored (its hash is a key), shaped (pgk_/pga_)
    start: str  # the secret's first characters, to tell which


def leaks(
    lines: Iterable[tuple[Path, int, str]], known: set[str], stored_hashes: set[str]
) -> list[Leak]:
    found = []
    for path, number, line in lines:
        where = f"{path.name}:{number}"
        for match in PREFIXED.finditer(line):
            found.append(Leak(where, "shaped", match.group()[:6]))
        for token in TOKEN.findall(line):
            if token in known:
                found.append(Leak(where, "created", token[:6]))
            elif hash_key(token) in stored_hashes:
                found.append(Leak(where, "stored", token[:6]))
    return found


class Tee:
    """A text stream that writes to a file and to whatever `sys.stderr` is at the time (so
    pytest's capture still shows a failing test's log lines)."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def write(self, text: str) -> int:
        self._file.write(text)
        self._file.flush()
        return sys.stderr.write(text)

    def flush(self) -> None:
        self._file.flush()
        sys.stderr.flush()

    def isatty(self) -> bool:
        return False
