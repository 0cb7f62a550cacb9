"""Keys with a lifecycle: listed without secrets, rotated with a grace period, revoked at once
on every replica, sources disabled and enabled; admin routes by name; the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.database import Rows
from tests.support.http import basic
from tests.support.servers import LiveServer, cli_json, new_tenant, run_cli
from tests.support.tenants import ADMIN_TOKEN, Tenant
from tests.support.waiting import eventually

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def track(user: str) -> dict[str, Any]:
    return {"userId": user, "event": "Key Checked", "messageId": f"m-{uuid.uuid4()}"}


async def status_with_write_key(client: httpx.AsyncClient, write_key: str) -> int:
    response = await client.post("/v1/track", json=track("u-1"), headers=basic(write_key))
    return response.status_code


async def workspace_named(client: httpx.AsyncClient) -> dict[str, Any]:
    name = f"keys-{uuid.uuid4().hex[:8]}"
    response = await client.post("/admin/workspaces", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_admin_routes_take_a_workspace_name_and_list_without_secrets(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    workspace = await workspace_named(client)
    name = workspace["name"]
    source = await client.post(
        f"/admin/workspaces/{name}/sources", json={"name": "web"}, headers=ADMIN
    )
    key = await client.post(
        f"/admin/workspaces/{name}/api-keys", json={"name": "backend"}, headers=ADMIN
    )
    assert (source.status_code, key.status_code) == (201, 201)

    listed = await client.get("/admin/workspaces", headers=ADMIN)
    mine = [w for w in listed.json()["items"] if w["name"] == name]
    assert mine == [{**workspace, "rate_limit_per_second": None}]
    by_id = await client.get(f"/admin/workspaces/{workspace['id']}", headers=ADMIN)
    by_name = await client.get(f"/admin/workspaces/{name}", headers=ADMIN)
    assert by_id.json() == by_name.json() == mine[0]

    sources = (await client.get(f"/admin/workspaces/{name}/sources", headers=ADMIN)).json()
    assert [s["name"] for s in sources["items"]] == ["web"]
    keys = (await client.get(f"/admin/workspaces/{name}/api-keys", headers=ADMIN)).json()
    assert [(k["name"], k["active"]) for k in keys["items"]] == [("backend", True)]
    for secret in (source.json()["write_key"], key.json()["api_key"]):
        assert secret not in str(sources) + str(keys)

    missing = await client.get("/admin/workspaces/no-such-workspace/sources", headers=ADMIN)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    audit = await client.get(f"/admin/audit-log?workspace={name}", headers=ADMIN)
    assert [(e["action"], e["actor"]) for e in audit.json()["items"]] == [
        ("api_key.created", "admin:configured"),
        ("source.created", "admin:configured"),
        ("workspace.created", "admin:configured"),
    ]
    assert rows.query(
        "SELECT count(*) AS n FROM audit_log WHERE workspace_id = %s", uuid.UUID(workspace["id"])
    ) == [{"n": 3}]


async def test_write_key_rotation_keeps_the_old_key_for_the_grace_period_only(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    workspace = str(tenant.workspace_id)
    assert await status_with_write_key(client, tenant.write_key) == 200  # cached now
    rotated = await client.post(
        f"/admin/workspaces/{workspace}/sources/web/rotate",
        json={"grace_seconds": 2},
        headers=ADMIN,
    )
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["write_key"]
    assert new_key != tenant.write_key
    assert rotated.json()["source"]["previous_key_expires_at"] is not None

    # In the grace period both keys work.
    assert await status_with_write_key(client, tenant.write_key) == 200
    assert await status_with_write_key(client, new_key) == 200
    # After it, only the new one, however recently the old one was cached.
    await eventually(
        lambda: status_with_write_key(client, tenant.write_key),
        lambda status: status == 401,
        timeout=5,
        what="the old write key to be refused after its grace period",
    )
    assert await status_with_write_key(client, new_key) == 200
    stored = rows.query(
        "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s", tenant.workspace_id
    )
    assert stored[0]["n"] >= 4


async def test_api_key_rotation_grace_then_only_the_new_key(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    workspace = str(tenant.workspace_id)
    [old] = (await client.get(f"/admin/workspaces/{workspace}/api-keys", headers=ADMIN)).json()[
        "items"
    ]
    rotated = await client.post(
        f"/admin/workspaces/{workspace}/api-keys/{old['id']}/rotate",
        json={"grace_seconds": 2},
        headers=ADMIN,
    )
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["api_key"]

    async def status(key: str) -> int:
        response = await client.get("/api/v1/events", headers={"Authorization": f"Bearer {key}"})
        return response.status_code

    assert (await status(tenant.api_key), await status(new_key)) == (200, 200)
    await eventually(
        lambda: status(tenant.api_key),
        lambda code: code == 401,
        timeout=5,
        what="the replaced API key to be refused after its grace period",
    )
    assert await status(new_key) == 200
    listed = (await client.get(f"/admin/workspaces/{workspace}/api-keys", headers=ADMIN)).json()
    assert [(k["id"] == old["id"], k["active"]) for k in listed["items"]] == [
        (True, False),
        (False, True),
    ]


async def test_revoked_keys_are_refused_at_once_on_every_replica(
    client: httpx.AsyncClient, tenant: Tenant, live_server: LiveServer
) -> None:
    """The in-process app and the live server are two replicas of one database; both have the
    write key cached when it is revoked through one of them."""
    async with httpx.AsyncClient(base_url=live_server.url) as replica:
        for gateway in (client, replica):
            assert await status_with_write_key(gateway, tenant.write_key) == 200
            events = await gateway.get(
                "/api/v1/events", headers={"Authorization": f"Bearer {tenant.api_key}"}
            )
            assert events.status_code == 200

        workspace = str(tenant.workspace_id)
        revoked = await client.post(
            f"/admin/workspaces/{workspace}/sources/web/revoke", headers=ADMIN
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["previous_key_expires_at"] is None
        [key] = (await client.get(f"/admin/workspaces/{workspace}/api-keys", headers=ADMIN)).json()[
            "items"
        ]
        gone = await client.post(
            f"/admin/workspaces/{workspace}/api-keys/{key['id']}/revoke", headers=ADMIN
        )
        assert gone.json()["revoked_at"] is not None

        for gateway in (client, replica):
            # API keys are looked up on every request: refused from the very next one.
            events = await gateway.get(
                "/api/v1/events", headers={"Authorization": f"Bearer {tenant.api_key}"}
            )
            assert (events.status_code, events.json()["code"]) == (401, "invalid_api_key")
            # Write keys are cached, and each replica drops them when told of the change:
            # well before the cache's own 30 s.
            await eventually(
                lambda gateway=gateway: status_with_write_key(gateway, tenant.write_key),
                lambda code: code == 401,
                timeout=1,
                interval=0.01,
                what="the revoked write key to be refused",
            )
            assert await status_with_write_key(gateway, revoked.json()["write_key"]) == 200


async def test_a_disabled_source_is_refused_until_enabled_again(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    path = f"/admin/workspaces/{tenant.workspace_id}/sources/{tenant.source_id}"
    assert await status_with_write_key(client, tenant.write_key) == 200
    disabled = await client.patch(path, json={"enabled": False}, headers=ADMIN)
    assert disabled.json()["enabled"] is False
    refused = await eventually(
        lambda: client.post("/v1/track", json=track("u-2"), headers=basic(tenant.write_key)),
        lambda response: response.status_code == 403,
        timeout=1,
        interval=0.01,
        what="the disabled source to be refused",
    )
    assert refused.json()["code"] == "source_disabled"
    await client.patch(path, json={"enabled": True}, headers=ADMIN)
    await eventually(
        lambda: status_with_write_key(client, tenant.write_key),
        lambda code: code == 200,
        timeout=1,
        interval=0.01,
        what="the enabled source to be accepted",
    )
    actions = rows.query(
        "SELECT action, details FROM audit_log WHERE workspace_id = %s ORDER BY id",
        tenant.workspace_id,
    )
    assert [(a["action"], a["details"]) for a in actions[-2:]] == [
        ("source.updated", {"enabled": False}),
        ("source.updated", {"enabled": True}),
    ]


def test_the_cli_lists_rotates_disables_and_revokes(live_server: LiveServer, rows: Rows) -> None:
    source = new_tenant(live_server)
    workspace = source["workspace_id"]
    [name] = [
        w["name"]
        for w in cli_json(live_server.env, "workspace", "list")["items"]
        if w["id"] == workspace
    ]
    listed = cli_json(live_server.env, "source", "list", name)["items"]
    assert [(s["name"], s["enabled"]) for s in listed] == [("backend", True)]
    disabled = cli_json(live_server.env, "source", "disable", name, "backend")
    assert disabled["enabled"] is False
    rotated = cli_json(
        live_server.env, "source", "rotate", name, "backend", "--grace-seconds", "60"
    )
    assert rotated["write_key"] != source["write_key"]
    assert rotated["previous_key_expires_at"] is not None
    key = cli_json(live_server.env, "apikey", "create", name)
    [listed_key] = cli_json(live_server.env, "apikey", "list", name)["items"]
    assert (listed_key["id"], listed_key["active"]) == (key["id"], True)
    assert key["api_key"] not in str(listed_key)
    revoked = cli_json(live_server.env, "apikey", "revoke", name, key["id"])
    assert (revoked["active"], revoked["revoked_at"] is not None) == (False, True)
    actions = rows.query(
        "SELECT action, actor FROM audit_log WHERE workspace_id = %s ORDER BY id",
        uuid.UUID(workspace),
    )
    assert [a["action"] for a in actions] == [
        "workspace.created",
        "source.created",
        "source.updated",
        "source.key_rotated",
        "api_key.created",
        "api_key.revoked",
    ]
    assert {a["actor"] for a in actions} == {"cli"}
    missing = run_cli(live_server.env, "source", "disable", name, "no-such-source", "--json")
    assert missing.returncode != 0
    assert "no-such-source" in missing.stderr

    unconfirmed = run_cli(live_server.env, "workspace", "delete", name)
    assert unconfirmed.returncode != 0
    offboarded = cli_json(live_server.env, "workspace", "delete", name, "--yes")
    assert offboarded["deleted"]["sources"] == 1
    assert rows.query("SELECT id FROM workspaces WHERE id = %s", uuid.UUID(workspace)) == []
