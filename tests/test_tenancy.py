"""Every REST route, with no key and with another workspace's key, reads and writes nothing
of this workspace. A route added without a case here fails the first test."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pulsegate.ingest.paths import ROUTES as SEGMENT_ROUTES
from pulsegate.sessions import sweep as sessions
from pulsegate.sessions.sessionize import SessionRules
from pulsegate.settings import Settings
from tests.support.database import Rows
from tests.support.http import bearer, send
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import settle

# The owner's destination, created with this id by the isolation test.
DESTINATION = "00000000-0000-4000-8000-00000000c0de"
# The owner's reverse-sync rule, and a run of it with one item, made with these ids.
RULE = "00000000-0000-4000-8000-0000000005e1"
RUN = 990_001
# The owner's CSV connector, and a run of it with one issue.
CONNECTOR = "00000000-0000-4000-8000-0000000c0111"
CONNECTOR_RUN = 990_002
CONNECTOR_BODY = {
    "kind": "csv",
    "name": "secret-import",
    "path": "accounts.csv",
    "object": "account",
    "mappings": [{"field": "plan", "target": "account_dimension"}],
    "match": {"account": {"by": "id", "field": "account_id"}},
}

# (method, path, body): every /api/v1 route, with values naming the owner's data.
CASES: list[tuple[str, str, Any]] = [
    ("GET", "/api/v1/events", None),
    ("GET", "/api/v1/accounts", None),
    ("GET", "/api/v1/accounts/acme-secret", None),
    ("GET", "/api/v1/accounts/acme-secret/users", None),
    ("GET", "/api/v1/users/user-secret", None),
    ("GET", "/api/v1/settings/tiers", None),
    ("PUT", "/api/v1/settings/tiers", {"items": [{"name": "Intruder"}]}),
    ("GET", "/api/v1/settings/lifecycle-stages", None),
    ("PUT", "/api/v1/settings/lifecycle-stages", {"items": [{"name": "Intruder"}]}),
    ("GET", "/api/v1/fields", None),
    (
        "POST",
        "/api/v1/fields",
        {"object": "account", "kind": "metric", "key": "mrr", "type": "number"},
    ),
    ("GET", "/api/v1/settings/custom-fields", None),
    ("PUT", "/api/v1/settings/custom-fields", {"mode": "off"}),
    (
        "POST",
        "/api/v1/metrics",
        {
            "items": [
                {
                    "object": "account",
                    "id": "acme-secret",
                    "key": "mrr",
                    "value": -1,
                    "date": "2026-01-01",
                }
            ]
        },
    ),
    ("GET", "/api/v1/accounts/acme-secret/metrics/mrr", None),
    ("GET", "/api/v1/rejected-messages", None),
    ("GET", "/api/v1/messages", None),
    ("POST", "/api/v1/erasures", {"user_id": "user-secret"}),
    ("GET", "/api/v1/erasures", None),
    ("GET", f"/api/v1/erasures/{RULE}", None),
    ("GET", "/api/v1/suppressions", None),
    ("DELETE", f"/api/v1/suppressions/{'0' * 64}", None),
    ("PUT", "/api/v1/accounts/acme-secret", {"name": "Hijacked"}),
    ("PUT", "/api/v1/users/user-secret", {"first_name": "Hijacked"}),
    ("POST", "/api/v1/rejected-messages/1/replay", None),
    ("GET", "/api/v1/sessions", None),
    ("GET", "/api/v1/accounts/acme-secret/usage", None),
    ("GET", "/api/v1/users/user-secret/usage", None),
    ("GET", "/api/v1/destinations", None),
    (
        "POST",
        "/api/v1/destinations",
        {
            "kind": "freshsales",
            "name": "secret-crm",
            "domain": "x.myfreshworks.com",
            "api_key": "intruder",
        },
    ),
    ("GET", f"/api/v1/destinations/{DESTINATION}/deliveries", None),
    ("POST", f"/api/v1/destinations/{DESTINATION}/deliveries/1/retry", None),
    ("GET", "/api/v1/reverse-sync/rules", None),
    (
        "POST",
        "/api/v1/reverse-sync/rules",
        {
            "destination_id": DESTINATION,
            "source": "last_seen",
            "target": "contact",
            "field": "cf_stolen",
        },
    ),
    ("DELETE", f"/api/v1/reverse-sync/rules/{RULE}", None),
    ("POST", "/api/v1/reverse-sync/runs", None),
    ("GET", "/api/v1/reverse-sync/runs", None),
    ("GET", f"/api/v1/reverse-sync/runs/{RUN}/items", None),
    ("GET", "/api/v1/health-scores/config", None),
    (
        "PUT",
        "/api/v1/health-scores/config",
        {
            "default": {
                "sections": [
                    {
                        "name": "Intruder",
                        "weight": 1,
                        "measures": [
                            {
                                "kind": "usage",
                                "measure": "sessions",
                                "scoring": {"method": "linear", "min": 0, "max": 1},
                            }
                        ],
                    }
                ]
            }
        },
    ),
    ("POST", "/api/v1/health-scores/runs", None),
    ("GET", "/api/v1/accounts/acme-secret/health", None),
    ("GET", "/api/v1/connectors", None),
    ("POST", "/api/v1/connectors", CONNECTOR_BODY),
    ("GET", f"/api/v1/connectors/{CONNECTOR}", None),
    ("DELETE", f"/api/v1/connectors/{CONNECTOR}", None),
    ("PUT", f"/api/v1/connectors/{CONNECTOR}/file", None),
    ("GET", f"/api/v1/connectors/{CONNECTOR}/fields", None),
    ("POST", f"/api/v1/connectors/{CONNECTOR}/runs", None),
    ("GET", f"/api/v1/connectors/{CONNECTOR}/runs", None),
    ("GET", f"/api/v1/connectors/{CONNECTOR}/runs/{CONNECTOR_RUN}", None),
    ("GET", f"/api/v1/connectors/{CONNECTOR}/runs/{CONNECTOR_RUN}/issues", None),
]

DELIVERIES = "/api/v1/destinations/{destination_id}/deliveries"
CONNECTOR_RUNS = "/api/v1/connectors/{connector_id}/runs"
TEMPLATES = {
    f"/api/v1/erasures/{RULE}": "/api/v1/erasures/{erasure_id}",
    f"/api/v1/suppressions/{'0' * 64}": "/api/v1/suppressions/{id_hash}",
    "/api/v1/accounts/acme-secret": "/api/v1/accounts/{account_id}",
    "/api/v1/accounts/acme-secret/users": "/api/v1/accounts/{account_id}/users",
    "/api/v1/users/user-secret": "/api/v1/users/{user_id}",
    "/api/v1/accounts/acme-secret/metrics/mrr": "/api/v1/accounts/{account_id}/metrics/{key}",
    "/api/v1/rejected-messages/1/replay": "/api/v1/rejected-messages/{rejected_id}/replay",
    "/api/v1/accounts/acme-secret/usage": "/api/v1/accounts/{account_id}/usage",
    "/api/v1/users/user-secret/usage": "/api/v1/users/{user_id}/usage",
    f"/api/v1/destinations/{DESTINATION}/deliveries": DELIVERIES,
    f"/api/v1/destinations/{DESTINATION}/deliveries/1/retry": DELIVERIES + "/{delivery_id}/retry",
    f"/api/v1/reverse-sync/rules/{RULE}": "/api/v1/reverse-sync/rules/{rule_id}",
    f"/api/v1/reverse-sync/runs/{RUN}/items": "/api/v1/reverse-sync/runs/{run_id}/items",
    "/api/v1/accounts/acme-secret/health": "/api/v1/accounts/{account_id}/health",
    f"/api/v1/connectors/{CONNECTOR}": "/api/v1/connectors/{connector_id}",
    f"/api/v1/connectors/{CONNECTOR}/file": "/api/v1/connectors/{connector_id}/file",
    f"/api/v1/connectors/{CONNECTOR}/fields": "/api/v1/connectors/{connector_id}/fields",
    f"/api/v1/connectors/{CONNECTOR}/runs": CONNECTOR_RUNS,
    f"/api/v1/connectors/{CONNECTOR}/runs/{CONNECTOR_RUN}": CONNECTOR_RUNS + "/{run_id}",
    f"/api/v1/connectors/{CONNECTOR}/runs/{CONNECTOR_RUN}/issues": (
        CONNECTOR_RUNS + "/{run_id}/issues"
    ),
}


def test_every_rest_route_has_an_isolation_case(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/v1")
        for method in operations
    }
    covered = {(method, TEMPLATES.get(path, path)) for method, path, _ in CASES}
    assert routes == covered


async def owner_state(client: httpx.AsyncClient, owner: Tenant) -> dict[str, Any]:
    state = {}
    for method, path, _ in CASES:
        if method == "GET":
            response = await client.get(path, headers=bearer(owner))
            state[path] = (response.status_code, response.json())
    return state


async def test_no_key_is_401_everywhere(client: httpx.AsyncClient) -> None:
    for method, path, body in CASES:
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, (method, path)
        assert response.json()["code"] == "missing_token"


@pytest.mark.usefixtures("sole_delivery_job")  # the live server must not retry our outbox
async def test_another_workspace_reads_and_writes_nothing_of_ours(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    database_url: str,
    settings: Settings,
) -> None:
    owner = tenant
    for path, names in (("tiers", ["Gold"]), ("lifecycle-stages", ["Adoption"])):
        await client.put(
            f"/api/v1/settings/{path}",
            json={"items": [{"name": n} for n in names]},
            headers=bearer(owner),
        )
    await client.post(
        "/api/v1/fields",
        json={"object": "account", "kind": "metric", "key": "mrr", "type": "number"},
        headers=bearer(owner),
    )
    await send(
        client,
        owner,
        [
            {
                "type": "group",
                "userId": "user-secret",
                "groupId": "acme-secret",
                "traits": {
                    "name": "Secret Co",
                    "createdAt": "2024-01-01",
                    "tier": "Gold",
                    "mrr": 100,
                    "plan": "secret-plan",
                },
                "timestamp": "2026-01-01T00:00:00Z",
            },
            {"type": "track", "userId": "user-secret", "event": "Secret Feature"},
        ],
    )
    created = await client.post(
        "/api/v1/destinations",
        json={
            "kind": "freshsales",
            "name": "secret-crm",
            "domain": "acme-secret.freshsales.io",
            "api_key": "Secret-key",
        },
        headers=bearer(owner),
    )
    rows.query(
        "UPDATE destinations SET id = %s WHERE id = %s RETURNING 1",
        DESTINATION,
        created.json()["id"],
    )
    rule = await client.post(
        "/api/v1/reverse-sync/rules",
        json={
            "destination_id": DESTINATION,
            "source": "last_seen",
            "target": "contact",
            "field": "cf_secret_seen",
        },
        headers=bearer(owner),
    )
    rows.query(
        "UPDATE reverse_sync_rules SET id = %s WHERE id = %s RETURNING 1", RULE, rule.json()["id"]
    )
    rows.query(
        "INSERT INTO reverse_sync_runs (id, workspace_id, trigger, status, started_at, counts) "
        "OVERRIDING SYSTEM VALUE VALUES (%s, %s, 'api', 'succeeded', now(), '{}') RETURNING 1",
        RUN,
        owner.workspace_id,
    )
    rows.query(
        "INSERT INTO reverse_sync_items (workspace_id, run_id, destination_id, target, "
        "entity_id, unique_identifier, fields, status, at) VALUES (%s, %s, %s, 'contact', "
        "'user-secret', '{\"emails\": \"Secret@acme.example\"}', '{}', 'sent', now()) "
        "RETURNING 1",
        owner.workspace_id,
        RUN,
        DESTINATION,
    )
    folder = settings.imports / str(owner.workspace_id)
    folder.mkdir(parents=True)
    (folder / "accounts.csv").write_text("account_id,plan\nacme-secret,secret-plan\n")
    connector = await client.post("/api/v1/connectors", json=CONNECTOR_BODY, headers=bearer(owner))
    rows.query(
        "UPDATE connectors SET id = %s WHERE id = %s RETURNING 1", CONNECTOR, connector.json()["id"]
    )
    rows.query(
        "INSERT INTO connector_runs (id, connector_id, workspace_id, trigger, status, full_pull, "
        "started_at, counts, progress) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, 'api', "
        "'succeeded', true, now(), '{}', '{}') RETURNING 1",
        CONNECTOR_RUN,
        CONNECTOR,
        owner.workspace_id,
    )
    rows.query(
        "INSERT INTO connector_issues (workspace_id, run_id, kind, object, line, field, value, "
        "reason) VALUES (%s, %s, 'unmatched', 'account', 2, 'account_id', 'Secret Inc', "
        "'no account') RETURNING 1",
        owner.workspace_id,
        CONNECTOR_RUN,
    )
    await settle(client, owner, rows)
    await sessions.sweep(app.state.engine, rules=SessionRules())
    secret_config = {
        "default": {
            "sections": [
                {
                    "name": "Secret section",
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
    for method, path, body in (
        ("PUT", "/api/v1/health-scores/config", secret_config),
        ("POST", "/api/v1/health-scores/runs", None),
    ):
        response = await client.request(method, path, json=body, headers=bearer(owner))
        assert response.status_code == 200, response.text
    before = await owner_state(client, owner)
    assert before["/api/v1/accounts/acme-secret/health"][1]["items"][0]["score"] == 50
    assert before["/api/v1/accounts/acme-secret"][0] == 200
    assert before["/api/v1/sessions"][1]["items"][0]["user_id"] == "user-secret"
    assert before["/api/v1/destinations"][1]["items"][0]["name"] == "secret-crm"
    assert before["/api/v1/reverse-sync/rules"][1]["items"][0]["id"] == RULE
    assert before[f"/api/v1/reverse-sync/runs/{RUN}/items"][1]["items"][0]["status"] == "sent"
    assert before[f"/api/v1/connectors/{CONNECTOR}/fields"][1]["items"][1]["name"] == "plan"
    issue = before[f"/api/v1/connectors/{CONNECTOR}/runs/{CONNECTOR_RUN}/issues"][1]["items"][0]
    assert issue["value"] == "Secret Inc"

    intruder = await create_tenant(database_url)
    # Reads first: the intruder's own writes (PUT /users/user-secret) make entities of that
    # name in its own workspace, which its later reads may rightly show.
    for method, path, body in sorted(CASES, key=lambda case: case[0] != "GET"):
        response = await client.request(method, path, json=body, headers=bearer(intruder))
        assert response.status_code in (200, 201, 202, 400, 404), (method, path, response.text)
        if response.status_code == 404:  # its message may echo the id the intruder asked for
            assert response.json()["code"] == "not_found"
        elif method == "GET":
            for secret in ("acme-secret", "user-secret", "Secret", "secret-plan", "Gold"):
                assert secret not in response.text, (path, secret)
    assert await owner_state(client, owner) == before


# (method, path, body): every route outside /api/v1 that needs the admin token.
ADMIN_CASES: list[tuple[str, str, Any]] = [
    ("GET", "/admin/health", None),
    ("GET", "/admin/workspaces", None),
    ("POST", "/admin/workspaces", {"name": "intruders"}),
    ("GET", f"/admin/workspaces/{DESTINATION}", None),
    ("DELETE", f"/admin/workspaces/{DESTINATION}", None),
    ("PATCH", f"/admin/workspaces/{DESTINATION}", {"rate_limit_per_second": 1}),
    ("GET", f"/admin/workspaces/{DESTINATION}/sources", None),
    ("POST", f"/admin/workspaces/{DESTINATION}/sources", {"name": "intruder"}),
    ("PATCH", f"/admin/workspaces/{DESTINATION}/sources/web", {"enabled": False}),
    ("POST", f"/admin/workspaces/{DESTINATION}/sources/web/rotate", {"grace_seconds": 0}),
    ("POST", f"/admin/workspaces/{DESTINATION}/sources/web/revoke", None),
    ("GET", f"/admin/workspaces/{DESTINATION}/api-keys", None),
    ("POST", f"/admin/workspaces/{DESTINATION}/api-keys", {"name": "intruder"}),
    ("POST", f"/admin/workspaces/{DESTINATION}/api-keys/{RULE}/rotate", {"grace_seconds": 0}),
    ("POST", f"/admin/workspaces/{DESTINATION}/api-keys/{RULE}/revoke", None),
    ("GET", f"/admin/workspaces/{DESTINATION}/retention", None),
    ("PUT", f"/admin/workspaces/{DESTINATION}/retention", {"log_days": 3650}),
    ("GET", "/admin/audit-log", None),
    ("GET", "/admin/jobs", None),
    ("POST", "/admin/jobs/retention/runs", None),
    ("GET", "/admin/jobs/retention/runs", None),
    ("GET", "/admin/jobs/retention/runs/1", None),
]
WORKSPACE = "/admin/workspaces/{workspace}"
ADMIN_TEMPLATES = {
    f"/admin/workspaces/{DESTINATION}": WORKSPACE,
    f"/admin/workspaces/{DESTINATION}/sources": WORKSPACE + "/sources",
    f"/admin/workspaces/{DESTINATION}/sources/web": WORKSPACE + "/sources/{source}",
    f"/admin/workspaces/{DESTINATION}/sources/web/rotate": WORKSPACE + "/sources/{source}/rotate",
    f"/admin/workspaces/{DESTINATION}/sources/web/revoke": WORKSPACE + "/sources/{source}/revoke",
    f"/admin/workspaces/{DESTINATION}/api-keys": WORKSPACE + "/api-keys",
    f"/admin/workspaces/{DESTINATION}/api-keys/{RULE}/rotate": (
        WORKSPACE + "/api-keys/{key_id}/rotate"
    ),
    f"/admin/workspaces/{DESTINATION}/api-keys/{RULE}/revoke": (
        WORKSPACE + "/api-keys/{key_id}/revoke"
    ),
    f"/admin/workspaces/{DESTINATION}/retention": WORKSPACE + "/retention",
    "/admin/jobs/retention/runs": "/admin/jobs/{name}/runs",
    "/admin/jobs/retention/runs/1": "/admin/jobs/{name}/runs/{run_id}",
}
# Open by design: probes and scrapes carry no tenant data; the analytics.js settings name
# only the write key the caller already has.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/projects/{write_key}/settings"),
}


def test_every_route_outside_the_rest_api_is_admin_only_or_public(app: FastAPI) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if not path.startswith("/api/v1")
        for method in operations
    }
    admin = {(method, ADMIN_TEMPLATES.get(path, path)) for method, path, _ in ADMIN_CASES}
    # The Segment routes take a source's write key (tests/test_ingest_* and the SDK tests).
    segment = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"WriteKey": []}]
    }
    assert segment == {("POST", path) for path in SEGMENT_ROUTES}
    assert routes == admin | PUBLIC | segment
    assert not admin & PUBLIC


async def test_admin_routes_refuse_no_token_and_every_workspace_credential(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    workspaces_before = rows.count_all("workspaces")
    manual_runs = "SELECT count(*) AS n FROM job_runs WHERE trigger = 'manual'"
    runs_before = rows.query(manual_runs)
    credentials = {
        "missing_token": {},
        "invalid_admin_token": {"Authorization": f"Bearer {tenant.api_key}"},
    }
    for method, path, body in ADMIN_CASES:
        for code, headers in credentials.items():
            response = await client.request(method, path, json=body, headers=headers)
            assert (response.status_code, response.json()["code"]) == (401, code), (method, path)
        # A write key, however it is sent, is not an admin credential either.
        response = await client.request(method, path, json=body, auth=(tenant.write_key, ""))
        assert response.status_code == 401, (method, path)
    assert rows.count_all("workspaces") == workspaces_before
    assert rows.query(manual_runs) == runs_before
