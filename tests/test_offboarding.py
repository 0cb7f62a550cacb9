"""Offboarding a workspace under ingest load: it is gone from every table and the archive,
and the other workspaces lose nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pulsegate.app import create_app
from pulsegate.settings import Settings
from pulsegate.storage import archive
from pulsegate.storage.stores import LocalStore
from tests.support.database import Rows
from tests.support.http import basic, bearer
from tests.support.tenants import ADMIN_TOKEN, Tenant, create_tenant
from tests.support.waiting import settle

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

WORKSPACE_TABLES = """
SELECT c.relname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.attname = 'workspace_id' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND c.relnamespace = current_schema()::regnamespace AND c.relname <> 'audit_log'
ORDER BY 1
"""


# Work still to do, which the scheduled jobs take off whenever they run (the session sweep
# drains its queue of keys): their counts may fall while the others' may only grow.
QUEUES = {"session_dirty"}


def table_counts(rows: Rows, workspace_id: uuid.UUID) -> dict[str, int]:
    return {
        t["name"]: rows.query(
            f"SELECT count(*) AS n FROM {t['name']} WHERE workspace_id = %s", workspace_id
        )[0]["n"]
        for t in rows.query(WORKSPACE_TABLES)
    }


def visit(n: int) -> list[dict[str, Any]]:
    user, account = f"u-{n % 7}", f"acct-{n % 3}"
    return [
        {
            "type": "identify",
            "userId": user,
            "traits": {"email": f"{user}@example.com"},
            "messageId": f"i-{n}",
        },
        {
            "type": "group",
            "userId": user,
            "groupId": account,
            "traits": {"name": account, "createdAt": "2024-01-01"},
            "messageId": f"g-{n}",
        },
        {"type": "track", "userId": user, "event": "Report Built", "messageId": f"t-{n}"},
    ]


@pytest.fixture
async def offboarding_app(settings: Settings, tmp_path: Path) -> Any:
    configured = settings.model_copy(update={"archive_url": str(tmp_path / "archive")})
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        yield application


async def test_offboard_one_of_three_workspaces_under_load(
    offboarding_app: FastAPI, rows: Rows, database_url: str, tmp_path: Path
) -> None:
    transport = httpx.ASGITransport(app=offboarding_app)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    kept = [await create_tenant(database_url), await create_tenant(database_url)]
    gone = await create_tenant(database_url)
    acknowledged: dict[uuid.UUID, set[str]] = {t.workspace_id: set() for t in [*kept, gone]}

    async def send_visits(tenant: Tenant, first: int, count: int) -> None:
        for n in range(first, first + count):
            batch = visit(n)
            response = await client.post(
                "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
            )
            if response.status_code == 200:
                acknowledged[tenant.workspace_id].update(m["messageId"] for m in batch)
            else:  # only the offboarded workspace may be refused, once it is being deleted
                assert tenant is gone, response.text
                assert response.status_code in (401, 403)

    # Before: data in every kind of store, an archived object, a refused message, a key.
    await asyncio.gather(*(send_visits(t, 0, 20) for t in [*kept, gone]))
    for tenant in [*kept, gone]:
        refused = await client.post(
            "/v1/track", json={"userId": "x"}, headers=basic(tenant.write_key)
        )
        assert refused.status_code == 400
        await settle(client, tenant, rows)
    local = LocalStore(tmp_path / "archive")
    today = datetime.now(UTC).date()
    await archive.archive_day(
        offboarding_app.state.engine,
        local,
        today,
        workspaces={gone.workspace_id},
        now=datetime.now(UTC),
    )
    assert list((tmp_path / "archive").rglob("*.gz"))
    before = {t.workspace_id: table_counts(rows, t.workspace_id) for t in kept}
    assert table_counts(rows, gone.workspace_id)["archived_objects"] == 1

    async def offboard() -> httpx.Response:
        await asyncio.sleep(0.2)  # in the middle of the load
        return await client.delete(f"/admin/workspaces/{gone.workspace_id}", headers=ADMIN)

    *_, response = await asyncio.gather(
        *(send_visits(t, 20, 40) for t in [*kept, gone]), offboard()
    )
    assert response.status_code == 200, response.text
    deleted = response.json()["deleted"]
    assert deleted["inbound_messages"] >= 60
    assert deleted["archive"] == 1

    for tenant in kept:
        await settle(client, tenant, rows)
        stored = {r["message_id"] for r in rows.inbound(tenant.workspace_id)}
        assert stored == acknowledged[tenant.workspace_id]
        after = table_counts(rows, tenant.workspace_id)
        for table, count in before[tenant.workspace_id].items():
            if table in QUEUES:
                continue
            assert after[table] >= count, (table, count, after[table])
        assert after["inbound_messages"] == 180
    assert set(table_counts(rows, gone.workspace_id).values()) == {0}
    assert rows.query("SELECT id FROM workspaces WHERE id = %s", gone.workspace_id) == []
    assert not list((tmp_path / "archive").rglob("*.gz"))
    [entry] = rows.query(
        "SELECT actor FROM audit_log WHERE workspace_id = %s AND action = 'workspace.offboarded'",
        gone.workspace_id,
    )
    assert entry["actor"] == "admin:configured"
    refused_key = await client.get("/api/v1/events", headers=bearer(gone))
    refused_write = await client.post(
        "/v1/track", json={"userId": "u", "event": "E"}, headers=basic(gone.write_key)
    )
    assert (refused_key.status_code, refused_write.status_code) == (401, 401)
    await client.aclose()
