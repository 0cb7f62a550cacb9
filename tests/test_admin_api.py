"""Operator endpoints: workspaces, sources and API keys, behind the admin token."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import pytest

from pulsegate.db.engine import create_engine, unit_of_work
from pulsegate.settings import Settings
from pulsegate.workspaces import service as workspaces
from tests.support.database import Rows
from tests.support.http import WEBHOOK_BODY, sign
from tests.support.tenants import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_token"),
        ({"Authorization": "Bearer not-the-token"}, "invalid_admin_token"),
    ],
)
async def test_admin_routes_refuse_without_the_admin_token(
    client: httpx.AsyncClient, rows: Rows, headers: dict[str, str], code: str
) -> None:
    before = rows.count_all("workspaces")
    response = await client.post("/admin/workspaces", json={"name": unique("x")}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": response.json()["message"], "details": []}
    assert rows.count_all("workspaces") == before


async def test_create_workspace_and_refuse_a_duplicate_name(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    name = unique("acme")
    response = await client.post("/admin/workspaces", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == name
    assert rows.query("SELECT name FROM workspaces WHERE id = %s", uuid.UUID(body["id"])) == [
        {"name": name}
    ]
    again = await client.post("/admin/workspaces", json={"name": name}, headers=ADMIN)
    assert again.status_code == 409
    assert again.json()["code"] == "already_exists"


async def test_unknown_fields_and_bad_values_are_400_with_the_field_named(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/admin/workspaces", json={"name": "ok", "plan": "gold"}, headers=ADMIN
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert [d["field"] for d in response.json()["details"]] == ["body.plan"]
    empty = await client.post("/admin/workspaces", json={"name": ""}, headers=ADMIN)
    assert [d["field"] for d in empty.json()["details"]] == ["body.name"]


async def test_created_source_ingests_and_enforces_its_secret(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    workspace = (
        await client.post("/admin/workspaces", json={"name": unique("ws")}, headers=ADMIN)
    ).json()
    response = await client.post(
        f"/admin/workspaces/{workspace['id']}/sources",
        json={"name": "segment-webhooks", "webhook_secret": "shh-webhook-secret"},
        headers=ADMIN,
    )
    assert response.status_code == 201
    source = response.json()
    assert source["webhook_secret_set"] is True
    assert len(source["write_key"]) == 32
    [stored] = rows.query("SELECT * FROM sources WHERE id = %s", uuid.UUID(source["id"]))
    assert stored["write_key_hash"] == hashlib.sha256(source["write_key"].encode()).hexdigest()
    assert "shh-webhook-secret" not in stored["webhook_secret_encrypted"]

    url = f"/v1/webhook?writeKey={source['write_key']}"
    unsigned = await client.post(url, content=WEBHOOK_BODY)
    assert unsigned.status_code == 401
    signed = await client.post(
        url, content=WEBHOOK_BODY, headers={"X-Signature": sign(WEBHOOK_BODY)}
    )
    assert signed.status_code == 200
    assert [r["message_id"] for r in rows.inbound(uuid.UUID(workspace["id"]))] == ["wh-1"]


async def test_create_api_key_stores_only_its_hash(client: httpx.AsyncClient, rows: Rows) -> None:
    workspace = (
        await client.post("/admin/workspaces", json={"name": unique("ws")}, headers=ADMIN)
    ).json()
    response = await client.post(
        f"/admin/workspaces/{workspace['id']}/api-keys", json={"name": "backend"}, headers=ADMIN
    )
    assert response.status_code == 201
    key = response.json()
    assert key["name"] == "backend"
    assert key["api_key"].startswith("pgk_")
    [stored] = rows.query("SELECT key_hash FROM api_keys WHERE id = %s", uuid.UUID(key["id"]))
    assert stored["key_hash"] == hashlib.sha256(key["api_key"].encode()).hexdigest()


async def test_unknown_workspace_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/admin/workspaces/{uuid.uuid4()}/sources", json={"name": "web"}, headers=ADMIN
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_admin_token_created_at_first_start_is_accepted(
    client: httpx.AsyncClient, database_url: str
) -> None:
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    async with unit_of_work(engine) as session:
        token = await workspaces.create_admin_token(session, name="first-start")
    await engine.dispose()
    response = await client.post(
        "/admin/workspaces",
        json={"name": unique("via-db-token")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201


async def test_a_workspace_plan_sets_its_own_retention(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    created = await client.post("/admin/workspaces", json={"name": unique("plan")}, headers=ADMIN)
    path = f"/admin/workspaces/{created.json()['id']}/retention"
    assert (await client.get(path, headers=ADMIN)).json() == {
        "log_days": None,
        "events_days": None,
        "refused_days": None,
        "deliveries_days": None,
    }
    plan = {"log_days": 60, "events_days": 730, "refused_days": None, "deliveries_days": 8}
    assert (await client.put(path, json=plan, headers=ADMIN)).json() == plan
    [stored] = rows.query(
        "SELECT log_retention_days, events_retention_days, refused_retention_days, "
        "deliveries_retention_days FROM workspaces WHERE id = %s",
        created.json()["id"],
    )
    assert list(stored.values()) == [60, 730, None, 8]

    # A delivery is retried for a week and reads its message from the hot log.
    short = await client.put(path, json={"log_days": 3}, headers=ADMIN)
    assert (short.status_code, short.json()["code"]) == (400, "invalid_request")
    missing = await client.get(f"/admin/workspaces/{uuid.uuid4()}/retention", headers=ADMIN)
    assert missing.status_code == 404
