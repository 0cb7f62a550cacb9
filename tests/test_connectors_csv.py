"""CSV connectors: the same mappings from a file (a path or an upload), bad rows reported with
their line numbers, and the nightly job run from the command line."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from pulsegate.projection.replay import replay_workspace
from pulsegate.settings import Settings
from tests.support.connectors import account, connectors, create, crm, history, issues, run_now
from tests.support.database import Rows
from tests.support.http import bearer
from tests.support.servers import cli_json
from tests.support.tenants import SECRET_KEY, Tenant

__all__ = ["connectors", "crm"]  # fixtures

ACCOUNTS_CSV = """account_id,plan,mrr,status
acme,pro,1500,live
globex,enterprise,2300.50,live
12345.0,pro,10,live
initech,basic,n/a,live
"multi
line",pro,1,live
initech,basic
,pro,5,live
testco,pro,1,test
"""
ACCOUNTS = {
    "kind": "csv",
    "name": "billing",
    "path": "accounts.csv",
    "object": "account",
    "mappings": [
        {"field": "plan", "target": "account_dimension"},
        {"field": "mrr", "target": "account_metric"},
    ],
    "match": {"account": {"by": "id", "field": "account_id"}},
    "filters": {"rows": [{"column": "status", "operator": "not_equals", "value": "test"}]},
}


def write_import(settings: Settings, tenant: Tenant, name: str, text: str) -> None:
    folder = settings.imports / str(tenant.workspace_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


async def test_a_csv_file_fills_dimensions_and_metrics_and_reports_bad_rows_by_line(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    crm: None,
    connectors: list[str],
) -> None:
    write_import(settings, tenant, "accounts.csv", ACCOUNTS_CSV)
    connector = await create(client, tenant, connectors, ACCOUNTS)
    assert connector["mappings"][1] == {
        "field": "mrr",
        "target": "account_metric",
        "key": "mrr",
        "type": "number",
    }

    run = await run_now(client, tenant, connector["id"])

    assert run["status"] == "succeeded", run
    assert run["counts"] == {
        "fetched": 7,
        "filtered": 1,
        "matched": 3,
        "unmatched": 3,
        "updated": 3,
        "invalid": 2,
        "carried_forward": 0,
    }
    today = datetime.now(UTC).date().isoformat()
    assert (await account(client, tenant, "acme"))["custom"]["plan"] == "pro"
    assert (await account(client, tenant, "initech"))["custom"]["plan"] == "basic"
    assert await history(client, tenant, "globex") == [(today, 2300.5)]
    found = await issues(client, tenant, connector["id"], run["id"])
    assert sorted((i["line"], i["kind"], i["field"], i["value"], i["reason"]) for i in found) == [
        (4, "unmatched", "account_id", "12345.0", "no account has id '12345.0'"),
        (5, "invalid", "mrr", "n/a", "'n/a' is not a number"),
        (6, "unmatched", "account_id", "multi\nline", "no account has id 'multi\\nline'"),
        (8, "invalid", None, None, "the row has 2 cells, the header 4"),
        (9, "unmatched", "account_id", None, "no account_id value to match by"),
    ]

    catalog = await client.get(
        f"/api/v1/connectors/{connector['id']}/fields?format=csv", headers=bearer(tenant)
    )
    assert list(csv.reader(io.StringIO(catalog.text))) == [
        ["object", "name", "label", "type", "standard"],
        ["account", "account_id", "account_id", "text", "custom"],
        ["account", "plan", "plan", "text", "custom"],
        ["account", "mrr", "mrr", "text", "custom"],  # "n/a" is not a number
        ["account", "status", "status", "text", "custom"],
    ]

    # Connector values are not in the log: rebuilding the projections keeps them.
    await replay_workspace(app.state.engine, tenant.workspace_id)
    assert (await account(client, tenant, "acme"))["custom"]["plan"] == "pro"
    assert await history(client, tenant, "globex") == [(today, 2300.5)]


async def test_an_uploaded_file_fills_user_dimensions(
    client: httpx.AsyncClient, tenant: Tenant, crm: None, connectors: list[str]
) -> None:
    connector = await create(
        client,
        tenant,
        connectors,
        {
            "kind": "csv",
            "name": "people",
            "object": "user",
            "mappings": [{"field": "job", "target": "user_dimension"}],
            "match": {"user": {"by": "email", "field": "email"}},
        },
    )
    waiting = await run_now(client, tenant, connector["id"])
    assert waiting["status"] == "failed"
    assert waiting["error"] == "no file yet: give a path or upload one"

    upload = f"/api/v1/connectors/{connector['id']}/file"
    wrong = await client.put(
        upload,
        content=b"mail,title\nana@acme.example,CTO\n",
        headers={**bearer(tenant), "Content-Type": "text/csv"},
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "unknown_field")
    uploaded = await client.put(
        upload,
        content="\ufeffemail,job\nANA@acme.example,CTO\n".encode(),
        headers={**bearer(tenant), "Content-Type": "text/csv"},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["has_upload"] is True

    run = await run_now(client, tenant, connector["id"])
    assert (run["status"], run["counts"]["matched"], run["counts"]["updated"]) == (
        "succeeded",
        1,
        1,
    )
    user = (await client.get("/api/v1/users/ana", headers=bearer(tenant))).json()
    assert user["custom"]["job"] == "CTO"


async def test_paths_stay_inside_the_workspaces_import_folder(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, connectors: list[str]
) -> None:
    for path in ("../../secret_key", "/etc/passwd"):
        response = await client.post(
            "/api/v1/connectors", json={**ACCOUNTS, "path": path}, headers=bearer(tenant)
        )
        assert (response.status_code, response.json()["code"]) == (400, "path_outside_imports")
    missing = await client.post("/api/v1/connectors", json=ACCOUNTS, headers=bearer(tenant))
    assert (missing.status_code, missing.json()["code"]) == (400, "source_refused")
    assert "cannot read" in missing.json()["message"]


async def test_the_nightly_job_runs_from_the_command_line(
    client: httpx.AsyncClient,
    tenant: Tenant,
    settings: Settings,
    crm: None,
    rows: Rows,
    database_url: str,
    connectors: list[str],
) -> None:
    write_import(settings, tenant, "accounts.csv", ACCOUNTS_CSV)
    connector = await create(client, tenant, connectors, ACCOUNTS)
    env = {
        "PATH": "/usr/bin:/bin",
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_DATA_DIR": str(settings.data_dir),
        "PULSEGATE_SECRET_KEY": SECRET_KEY,
    }
    # In a thread: the child waits for nothing of ours, but must not block the app's loop.
    result: dict[str, Any] = await asyncio.to_thread(cli_json, env, "jobs", "run", "connector_sync")

    assert (result["job"], result["trigger"], result["status"]) == (
        "connector_sync",
        "cli",
        "succeeded",
    )
    [run] = [r for r in result["counts"] if r["connector_id"] == connector["id"]]
    assert (run["status"], run["trigger"], run["counts"]["matched"]) == ("succeeded", "schedule", 3)
    stored = rows.query(
        "SELECT status, counts FROM connector_runs WHERE connector_id = %s", connector["id"]
    )
    nonzero = {name: n for name, n in run["counts"].items() if n}
    assert stored == [{"status": "succeeded", "counts": nonzero}]
    assert (await account(client, tenant, "globex"))["custom"]["plan"] == "enterprise"
