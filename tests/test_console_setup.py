"""The console's setup actions call the same services as the API: run now, retry a dead
delivery, rotate a key, score now; and none reaches another workspace's."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support.database import Rows
from tests.support.http import basic, bearer, send
from tests.support.servers import start_server
from tests.support.tenants import ADMIN_TOKEN, Tenant, create_tenant
from tests.support.waiting import eventually, eventually_sync, settle

ORIGIN = "http://testserver"
CONNECTOR = {
    "kind": "csv",
    "name": "crm-export",
    "path": "accounts.csv",
    "object": "account",
    "mappings": [{"field": "plan", "target": "account_dimension"}],
    "match": {"account": {"by": "id", "field": "account_id"}},
}


async def console_for(app: FastAPI, key: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)
    signed = await client.post("/console/sign-in", data={"key": key}, headers={"Origin": ORIGIN})
    assert signed.status_code == 303, signed.text
    page = await client.get("/console/setup")
    assert page.status_code == 200, page.text
    [token] = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[:1]
    return client, token


async def dead_delivery(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> tuple[str, int]:
    created = await client.post(
        "/api/v1/destinations",
        json={"kind": "freshsales", "name": "crm", "domain": "crm.invalid", "api_key": "k"},
        headers=bearer(tenant),
    )
    destination = created.json()["id"]
    await send(
        client,
        tenant,
        [{"type": "identify", "userId": "u-1", "traits": {"email": "ada@example.com"}}],
    )
    await settle(client, tenant, rows)
    [delivery] = rows.query(
        "UPDATE deliveries SET status = 'dead', last_error = 'gave up' "
        "WHERE workspace_id = %s RETURNING id",
        tenant.workspace_id,
    )
    return destination, delivery["id"]


async def test_retry_a_dead_delivery_from_the_console(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows, database_url: str
) -> None:
    destination, delivery = await dead_delivery(client, tenant, rows)
    console, token = await console_for(app, tenant.api_key)
    page = await console.get(f"/console/destinations/{destination}?status=dead")
    assert f"Retry delivery {delivery}" in page.text
    retried = await console.post(
        f"/console/destinations/{destination}/deliveries/{delivery}/retry",
        data={"csrf_token": token},
    )
    assert retried.status_code == 303
    [row] = rows.query("SELECT status FROM deliveries WHERE id = %s", delivery)
    assert row["status"] == "pending"

    intruder = await create_tenant(database_url)
    other, other_token = await console_for(app, intruder.api_key)
    stolen = await other.post(
        f"/console/destinations/{destination}/deliveries/{delivery}/retry",
        data={"csrf_token": other_token},
    )
    assert stolen.status_code == 404
    assert "crm" not in (await other.get("/console/setup")).text.split("<main")[1]
    await console.aclose()
    await other.aclose()


async def test_run_a_connector_now_and_watch_it_finish(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, settings: Any
) -> None:
    folder = settings.imports / str(tenant.workspace_id)
    folder.mkdir(parents=True)
    (folder / "accounts.csv").write_text("account_id,plan\nacme,gold\n")
    console, token = await console_for(app, tenant.api_key)
    refused = await console.post(
        "/console/connectors", data={"csrf_token": token, "connector": '{"kind": "csv"}'}
    )
    assert refused.status_code == 400
    created = await console.post(
        "/console/connectors", data={"csrf_token": token, "connector": json.dumps(CONNECTOR)}
    )
    assert created.status_code == 303, created.text
    connector = created.headers["location"].rsplit("/", 1)[1]
    started = await console.post(
        f"/console/connectors/{connector}/runs", data={"csrf_token": token}
    )
    assert started.status_code == 303
    run_page = started.headers["location"]
    finished = await eventually(
        lambda: console.get(run_page, headers={"HX-Request": "true"}),
        lambda r: 'data-status="succeeded"' in r.text or 'data-status="failed"' in r.text,
        what="the run to finish",
    )
    assert 'data-status="succeeded"' in finished.text
    assert "hx-trigger" not in finished.text  # a finished run stops polling
    full_page = await console.get(run_page)
    issues = re.findall(r'<table id="issues-table">.*?</table>', full_page.text, re.S)[0]
    assert "unmatched" in issues  # acme is no account of this workspace
    assert "acme" in issues
    api = await client.get(f"/api/v1/connectors/{connector}/runs", headers=bearer(tenant))
    assert api.json()["items"][0]["status"] == "succeeded"
    assert api.json()["items"][0]["trigger"] == "console"
    await console.aclose()


async def test_rotate_and_disable_from_the_console_as_the_operator(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    workspace_console, workspace_token = await console_for(app, tenant.api_key)
    refused = await workspace_console.post(
        f"/console/sources/{tenant.source_id}/rotate", data={"csrf_token": workspace_token}
    )
    assert refused.status_code == 403  # a workspace key does not manage keys

    operator, token = await console_for(app, ADMIN_TOKEN)
    switched = await operator.post(
        "/console/workspace", data={"csrf_token": token, "workspace": str(tenant.workspace_id)}
    )
    assert switched.status_code == 303
    made = await operator.post("/console/sources", data={"csrf_token": token, "name": "mobile"})
    [mobile_key] = re.findall(r'<code id="new-write-key">([^<]+)</code>', made.text)
    first = {"userId": "u", "event": "From Mobile", "messageId": f"m-{uuid.uuid4()}"}
    assert (
        await client.post("/v1/track", json=first, headers=basic(mobile_key))
    ).status_code == 200
    rotated = await operator.post(
        f"/console/sources/{tenant.source_id}/rotate",
        data={"csrf_token": token, "grace_hours": "0"},
    )
    [new_key] = re.findall(r'<code id="new-write-key">([^<]+)</code>', rotated.text)
    message = {"userId": "u", "event": "After Rotation", "messageId": f"r-{uuid.uuid4()}"}
    new = await client.post("/v1/track", json=message, headers=basic(new_key))
    old = await eventually(
        lambda: client.post("/v1/track", json=message, headers=basic(tenant.write_key)),
        lambda r: r.status_code == 401,
        timeout=2,
        what="the replaced key to be refused",
    )
    assert (new.status_code, old.status_code) == (200, 401)
    [entry] = rows.query(
        "SELECT actor FROM audit_log WHERE workspace_id = %s AND action = 'source.key_revoked'",
        tenant.workspace_id,
    )
    assert entry["actor"] == "console:admin"
    await operator.aclose()
    await workspace_console.aclose()


async def test_run_the_health_score_now(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "traits": {"name": "Acme", "createdAt": "2024-01-01"},
            }
        ],
    )
    await settle(client, tenant, rows)
    console, token = await console_for(app, tenant.api_key)
    done = await console.post("/console/health-scores/runs", data={"csrf_token": token})
    assert done.headers["location"] == "/console/setup?scored=1"
    scores = rows.query(
        "SELECT account_id FROM health_scores WHERE workspace_id = %s", tenant.workspace_id
    )
    assert [s["account_id"] for s in scores] == ["acme"]
    await console.aclose()


@pytest.mark.clients
def test_the_setup_pages_in_chromium(database_url: str, tmp_path: Path, rows: Rows) -> None:
    """The operator, in headless Chromium: runs a connector now and watches it finish, retries
    a dead delivery, rotates a write key; axe-core finds no serious violation."""
    import asyncio
    import os

    from tests import clients

    clients.install()
    data = tmp_path / "console"
    server = start_server(database_url, data, PULSEGATE_ADMIN_TOKEN=ADMIN_TOKEN)
    tenant = asyncio.run(create_tenant(database_url))
    shots = Path(os.environ.get("PULSEGATE_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with httpx.Client(base_url=server.url, headers=bearer(tenant)) as http:
            folder = data / "imports" / str(tenant.workspace_id)
            folder.mkdir(parents=True)
            (folder / "accounts.csv").write_text("account_id,plan\nacme,gold\n")
            destination = http.post(
                "/api/v1/destinations",
                json={"kind": "freshsales", "name": "crm", "domain": "crm.invalid", "api_key": "k"},
            ).json()["id"]
            sent = http.post(
                "/v1/batch",
                json={
                    "batch": [
                        {
                            "type": "identify",
                            "userId": "u-1",
                            "traits": {"email": "ada@example.com"},
                        }
                    ]
                },
                headers=basic(tenant.write_key),
            )
            assert sent.json() == {"success": True}
            [delivery] = eventually_sync(
                lambda: rows.query(
                    "UPDATE deliveries SET status = 'dead' WHERE workspace_id = %s RETURNING id",
                    tenant.workspace_id,
                ),
                what="the delivery to be queued",
            )
        lines = clients.run(
            "console_setup.mjs",
            {
                "url": server.url,
                "adminToken": ADMIN_TOKEN,
                "workspace": str(tenant.workspace_id),
                "chromium": clients.chromium(),
                "connector": "csv-import",
                "destination": destination,
                "delivery": delivery["id"],
                "source": "web",
                "shots": str(shots),
            },
        )
        new_key = next(line["writeKey"] for line in lines if "writeKey" in line)
        accepted = httpx.post(
            f"{server.url}/v1/track",
            json={"userId": "u", "event": "After Rotation"},
            headers=basic(new_key),
        )
        assert accepted.status_code == 200
    finally:
        server.stop()
    assert next(line["destinations"] for line in lines if "destinations" in line) == [
        "crm",
        "crm-from-the-page",
    ]
    assert next(line["run"] for line in lines if "run" in line) == "succeeded"
    assert next(line["delivery"] for line in lines if "delivery" in line) == "pending"
    [row] = rows.query("SELECT status FROM deliveries WHERE id = %s", delivery["id"])
    assert row["status"] in ("pending", "sent", "dead")  # the outbox may have tried it since
    audits = [line for line in lines if "axe" in line]
    assert len(audits) == 4
    for audit in audits:
        serious = [v for v in audit["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (audit["axe"], serious)
    assert next(line["consoleErrors"] for line in lines if "consoleErrors" in line) == []


async def test_the_health_score_editor_checks_previews_and_saves(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await client.post(
        "/api/v1/fields",
        json={"object": "account", "kind": "metric", "key": "mrr", "type": "number"},
        headers=bearer(tenant),
    )
    await send(
        client,
        tenant,
        [
            {
                "type": "group",
                "userId": "u",
                "groupId": "acme",
                "traits": {"name": "Acme", "createdAt": "2024-01-01", "mrr": 150},
            }
        ],
    )
    await settle(client, tenant, rows)
    console, token = await console_for(app, tenant.api_key)
    page = await console.get("/console/health-scores")
    assert "Version 0" in page.text
    config = {
        "default": {
            "sections": [
                {
                    "name": "Revenue",
                    "weight": 1,
                    "measures": [
                        {
                            "kind": "metric",
                            "key": "mrr",
                            "scoring": {"method": "linear", "min": 0, "max": 200},
                        }
                    ],
                }
            ]
        }
    }
    broken = await console.post(
        "/console/health-scores/check", data={"csrf_token": token, "config": "{not json"}
    )
    assert "not JSON" in broken.text
    unknown = json.dumps(
        {
            **config,
            "default": {
                "sections": [
                    {
                        **config["default"]["sections"][0],
                        "measures": [
                            {
                                "kind": "metric",
                                "key": "arr",
                                "scoring": {"method": "linear", "min": 0, "max": 1},
                            }
                        ],
                    }
                ]
            },
        }
    )
    refused = await console.post(
        "/console/health-scores/check", data={"csrf_token": token, "config": unknown}
    )
    assert "arr" in refused.text
    preview = await console.post(
        "/console/health-scores/check",
        data={"csrf_token": token, "config": json.dumps(config), "account": "acme"},
    )
    [score] = re.findall(r'<strong id="preview-score">([^<]+)</strong>', preview.text)
    assert score == "75"
    assert (
        rows.query(
            "SELECT 1 FROM health_score_configs WHERE workspace_id = %s", tenant.workspace_id
        )
        == []
    )
    saved = await console.post(
        "/console/health-scores/config", data={"csrf_token": token, "config": json.dumps(config)}
    )
    assert saved.headers["location"] == "/console/health-scores?saved=1"
    api = await client.get("/api/v1/health-scores/config", headers=bearer(tenant))
    assert api.json()["version"] == 1
    assert api.json()["default"]["sections"][0]["name"] == "Revenue"
    await console.aclose()


async def test_fields_choices_destinations_and_pushes_from_the_console(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    console, token = await console_for(app, tenant.api_key)
    added = await console.post(
        "/console/fields",
        data={
            "csrf_token": token,
            "object": "account",
            "kind": "metric",
            "key": "mrr",
            "type": "number",
        },
    )
    assert added.status_code == 303
    bad = await console.post(
        "/console/fields",
        data={
            "csrf_token": token,
            "object": "account",
            "kind": "metric",
            "key": "no spaces!",
            "type": "number",
        },
    )
    assert bad.status_code == 400
    assert 'id="problems"' in bad.text
    tiers = await console.post(
        "/console/choices/tiers", data={"csrf_token": token, "names": "Gold\nSilver\n"}
    )
    assert tiers.status_code == 303
    api_fields = (await client.get("/api/v1/fields", headers=bearer(tenant))).json()["items"]
    assert [(f["kind"], f["key"]) for f in api_fields] == [("metric", "mrr")]
    api_tiers = (await client.get("/api/v1/settings/tiers", headers=bearer(tenant))).json()
    assert [t["name"] for t in api_tiers["items"]] == ["Gold", "Silver"]

    created = await console.post(
        "/console/destinations",
        data={
            "csrf_token": token,
            "name": "crm",
            "domain": "acme.myfreshworks.com",
            "api_key": "secret-key",
        },
    )
    assert created.status_code == 303
    listed = (await client.get("/api/v1/destinations", headers=bearer(tenant))).json()["items"]
    assert [d["name"] for d in listed] == ["crm"]
    assert "secret-key" not in (await console.get("/console/setup")).text

    destination_id = listed[0]["id"]
    rule = await console.post(
        "/console/reverse-sync/rules",
        data={
            "csrf_token": token,
            "destination_id": destination_id,
            "source": "last_seen",
            "target": "sales_account",
            "field": "cf_last_seen",
        },
    )
    assert rule.status_code == 303, rule.text
    rules = (await client.get("/api/v1/reverse-sync/rules", headers=bearer(tenant))).json()
    assert [(r["source"], r["field"]) for r in rules["items"]] == [("last_seen", "cf_last_seen")]
    bad_rule = await console.post(
        "/console/reverse-sync/rules",
        data={
            "csrf_token": token,
            "destination_id": destination_id,
            "source": "last_seen",
            "target": "sales_account",
            "field": "not a field!",
        },
    )
    assert bad_rule.status_code == 400

    pushed = await console.post("/console/reverse-sync/runs", data={"csrf_token": token})
    assert pushed.status_code == 303
    runs = (await client.get("/api/v1/reverse-sync/runs", headers=bearer(tenant))).json()["items"]
    assert [(r["trigger"], r["status"]) for r in runs] == [("console", "succeeded")]
    assert f"Run {runs[0]['id']} finished" in (await console.get(pushed.headers["location"])).text
    await console.aclose()
