"""The console: sign-in for a session cookie, CSRF, its pages and the live stream, and that a
workspace's session never shows another workspace's data."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pulsegate.console import fields_routes as console_fields_routes
from pulsegate.console import health_routes as console_health_routes
from pulsegate.console import routes as console_routes
from pulsegate.console import setup_routes as console_setup_routes
from pulsegate.console.session import COOKIE
from tests.support.database import Rows
from tests.support.http import basic, bearer, send
from tests.support.servers import start_server
from tests.support.tenants import ADMIN_TOKEN, Tenant, create_tenant
from tests.support.waiting import eventually_sync, settle

ORIGIN = "http://testserver"


async def signed_in(app: FastAPI, key: str) -> tuple[httpx.AsyncClient, str]:
    """A client holding a console session, and the session's CSRF token."""
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url=ORIGIN)
    response = await client.post("/console/sign-in", data={"key": key}, headers={"Origin": ORIGIN})
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=43200" in cookie
    page = await client.get("/console/debugger")
    [token] = re.findall(r'name="csrf_token" value="([^"]+)"', page.text)[:1]
    return client, token


async def test_no_session_no_access(client: httpx.AsyncClient) -> None:
    for path in (
        "/console/debugger",
        "/console/accounts",
        "/console/accounts/x",
        "/console/operations",
        "/console/setup",
        "/console/health-scores",
        "/console/fields",
        "/console/users",
        "/console/users?q=secret",
    ):
        response = await client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/console/sign-in")
    for path in ("/console/debugger/stream", "/console/messages/1", "/console/refused/1"):
        response = await client.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 401, path
    client.cookies.set(COOKIE, "forged.value.sig")
    forged = await client.get("/console/accounts")
    assert forged.status_code == 303
    client.cookies.clear()
    bad_key = await client.post(
        "/console/sign-in", data={"key": "nope"}, headers={"Origin": ORIGIN}
    )
    assert bad_key.status_code == 401
    assert "not valid" in bad_key.text


async def test_pages_carry_a_strict_content_security_policy(app: FastAPI, tenant: Tenant) -> None:
    console, _ = await signed_in(app, tenant.api_key)
    for path in ("/console/debugger", "/console/accounts", "/console/sign-in"):
        response = await console.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "<script>" not in response.text  # no inline script, only src= and JSON data
    await console.aclose()


async def test_a_forged_cross_site_post_is_refused(app: FastAPI, tenant: Tenant) -> None:
    console, token = await signed_in(app, tenant.api_key)
    # Another site's form: the cookie goes along (were it not SameSite), the token cannot.
    forged = await console.post("/console/sign-out", data={})
    assert (forged.status_code, forged.json()["code"]) == (403, "csrf_failed")
    wrong = await console.post("/console/sign-out", data={"csrf_token": "guessed"})
    assert wrong.status_code == 403
    cross_site_sign_in = await console.post(
        "/console/sign-in", data={"key": tenant.api_key}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site_sign_in.status_code == 403
    ok = await console.post("/console/sign-out", data={"csrf_token": token})
    assert (ok.status_code, ok.headers["location"]) == (303, "/console/sign-in")
    await console.aclose()


async def test_a_session_ends_when_its_key_is_revoked(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    console, _ = await signed_in(app, tenant.api_key)
    assert (await console.get("/console/accounts")).status_code == 200
    [key] = (
        await client.get(
            f"/admin/workspaces/{tenant.workspace_id}/api-keys",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    ).json()["items"]
    await client.post(
        f"/admin/workspaces/{tenant.workspace_id}/api-keys/{key['id']}/revoke",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert (await console.get("/console/accounts")).status_code == 303
    await console.aclose()


def secret_calls() -> list[dict[str, Any]]:
    return [
        {
            "type": "group",
            "userId": "user-secret",
            "groupId": "acme-secret",
            "traits": {"name": "Secret Co", "createdAt": "2024-01-01"},
        },
        {"type": "track", "userId": "user-secret", "event": "Secret Feature"},
        {"type": "identify", "userId": "user-secret", "anonymousId": "anon-secret"},
    ]


# Every console route, as `(method, path template)`: a route added without a case here fails
# `test_every_console_route_is_covered`, so that the isolation test below sees it.
CONSOLE_ROUTES = {
    ("GET", "/console"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-out"),
    ("POST", "/console/workspace"),
    ("GET", "/console/debugger"),
    ("GET", "/console/debugger/stream"),
    ("GET", "/console/messages/{log_id}"),
    ("GET", "/console/refused/{rejected_id}"),
    ("GET", "/console/accounts"),
    ("GET", "/console/accounts/{account_id}"),
    ("GET", "/console/users"),
    ("GET", "/console/users/{user_id}"),
    ("GET", "/console/operations"),
    ("GET", "/console/setup"),
    ("POST", "/console/health-scores/runs"),
    ("POST", "/console/connectors/{connector_id}/runs"),
    ("GET", "/console/connectors/{connector_id}"),
    ("GET", "/console/connectors/{connector_id}/runs/{run_id}"),
    ("GET", "/console/destinations/{destination_id}"),
    ("POST", "/console/destinations/{destination_id}/deliveries/{delivery_id}/retry"),
    ("POST", "/console/sources/{source_id}/rotate"),
    ("POST", "/console/sources/{source_id}/enabled"),
    ("GET", "/console/health-scores"),
    ("POST", "/console/health-scores/check"),
    ("POST", "/console/health-scores/config"),
    ("GET", "/console/fields"),
    ("POST", "/console/fields"),
    ("POST", "/console/choices/{path}"),
    ("POST", "/console/destinations"),
    ("POST", "/console/reverse-sync/runs"),
    ("POST", "/console/reverse-sync/rules"),
    ("POST", "/console/connectors"),
    ("POST", "/console/sources"),
}
# Open without a session: the sign-in itself, and the redirect to it.
CONSOLE_PUBLIC = {("GET", "/console"), ("GET", "/console/sign-in"), ("POST", "/console/sign-in")}


def test_every_console_route_is_covered() -> None:
    """The console's routers are its routes (none is in the OpenAPI description)."""
    found = {
        (method, route.path)
        for router in (
            console_routes.router,
            console_setup_routes.router,
            console_health_routes.router,
            console_fields_routes.router,
        )
        for route in router.routes
        for method in getattr(route, "methods", ())
        if method != "HEAD"
    }
    assert found == CONSOLE_ROUTES


async def test_every_console_route_needs_a_session(client: httpx.AsyncClient) -> None:
    for method, template in sorted(CONSOLE_ROUTES - CONSOLE_PUBLIC):
        path = re.sub(r"\{[a-z_]+\}", str(uuid.UUID(int=1)), template).replace(
            str(uuid.UUID(int=1)) + "/runs/" + str(uuid.UUID(int=1)),
            str(uuid.UUID(int=1)) + "/runs/1",
        )
        response = await client.request(method, path, headers={"HX-Request": "true"})
        assert response.status_code == 401, (method, path, response.status_code)


async def test_workspace_a_never_sees_workspace_b(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows, database_url: str
) -> None:
    owner = tenant
    await send(client, owner, secret_calls())
    refused = await client.post(
        "/v1/track", json={"userId": "user-secret"}, headers=basic(owner.write_key)
    )
    assert refused.status_code == 400
    await settle(client, owner, rows)
    [stored] = rows.query(
        "SELECT id FROM inbound_messages WHERE workspace_id = %s LIMIT 1", owner.workspace_id
    )
    [kept] = rows.query(
        "SELECT id FROM rejected_messages WHERE workspace_id = %s LIMIT 1", owner.workspace_id
    )
    own, _ = await signed_in(app, owner.api_key)
    mine = await own.get("/console/accounts/acme-secret")
    assert mine.status_code == 200
    assert "Secret Co" in mine.text

    intruder = await create_tenant(database_url)
    other, _ = await signed_in(app, intruder.api_key)
    for path in (
        "/console/debugger",
        "/console/accounts",
        "/console/accounts?q=secret",
        "/console/accounts/acme-secret",
        "/console/users/user-secret",
        f"/console/messages/{stored['id']}",
        f"/console/refused/{kept['id']}",
        "/console/operations",
        "/console/setup",
        "/console/health-scores",
        "/console/fields",
        "/console/users",
        "/console/users?q=secret",
    ):
        response = await other.get(path)
        assert response.status_code in (200, 403, 404), (path, response.status_code)
        for secret in ("acme-secret", "user-secret", "Secret Co", "Secret Feature", "anon-secret"):
            if response.status_code == 200:
                assert secret not in response.text, (path, secret)
    switch = await other.post("/console/workspace", data={"workspace": str(owner.workspace_id)})
    assert switch.status_code == 403  # no CSRF token, and not the operator either
    await own.aclose()
    await other.aclose()


async def test_the_account_page_draws_what_the_api_answers(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await send(client, tenant, secret_calls())
    await settle(client, tenant, rows)
    console, _ = await signed_in(app, tenant.api_key)
    page = await console.get("/console/accounts/acme-secret")
    charts = [
        json.loads(data)
        for data in re.findall(
            r'<script type="application/json" id="chart-\d+">(.*?)</script>', page.text
        )
    ]
    usage = (await client.get("/api/v1/accounts/acme-secret/usage", headers=bearer(tenant))).json()
    [daily] = [c for c in charts if c["title"] == "Daily usage"]
    assert len(daily["x"]) == 30
    api_days = {day["date"]: day["sessions"] for day in usage["days"]}
    assert sum(daily["series"]["sessions"]) == sum(api_days.values())
    account = (await client.get("/api/v1/accounts/acme-secret", headers=bearer(tenant))).json()
    assert f'<dd id="user-count">{account["user_count"]}</dd>' in page.text or (
        str(account["user_count"]) in page.text
    )
    listed = await console.get("/console/accounts?q=secret")
    assert "acme-secret" in listed.text
    users = await console.get("/console/users?q=user-sec")
    assert "/console/users/user-secret" in users.text
    user = await console.get("/console/users/user-secret")
    assert re.search(r'<ul id="identities"><li>anon-secret</li></ul>', user.text)
    await client.post(
        "/api/v1/fields",
        json={"object": "account", "kind": "metric", "key": "mrr", "type": "number"},
        headers=bearer(tenant),
    )
    await client.post(
        "/api/v1/metrics",
        json={"items": [{"object": "account", "id": "acme-secret", "key": "mrr", "value": 321}]},
        headers=bearer(tenant),
    )
    with_metric = await console.get("/console/accounts?metric=mrr")
    assert re.search(r"<th scope=\"col\">mrr</th>", with_metric.text)
    assert "<td>321</td>" in with_metric.text
    await console.aclose()


def test_the_live_stream_shows_accepted_and_refused_messages(
    database_url: str, tmp_path: Path
) -> None:
    """Over a real server: the stream is Server-Sent Events, within a second."""
    import asyncio

    server = start_server(database_url, tmp_path / "console")
    tenant = asyncio.run(create_tenant(database_url))
    try:
        with httpx.Client(base_url=server.url) as http:
            signed = http.post("/console/sign-in", data={"key": tenant.api_key})
            assert signed.status_code == 303
            seen: list[dict[str, Any]] = []
            with http.stream("GET", "/console/debugger/stream", timeout=10) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                good = http.post(
                    "/v1/track",
                    json={
                        "userId": "live-user",
                        "event": "Live Event",
                        "messageId": f"l-{uuid.uuid4()}",
                    },
                    headers=basic(tenant.write_key),
                )
                bad = http.post(
                    "/v1/track", json={"userId": "live-user"}, headers=basic(tenant.write_key)
                )
                assert (good.status_code, bad.status_code) == (200, 400)
                for line in stream.iter_lines():
                    if line.startswith("data: {"):
                        seen.append(json.loads(line.removeprefix("data: ")))
                    if len(seen) == 2:
                        break
    finally:
        server.stop()
    by_status = {item["status"]: item for item in seen}
    assert by_status["accepted"]["event"] == "Live Event"
    assert by_status["accepted"]["user_id"] == "live-user"
    assert by_status["refused"]["code"] == "missing"  # the first reason: `event` is required
    assert "event" in by_status["refused"]["reason"]


@pytest.mark.clients
def test_the_console_in_chromium(database_url: str, tmp_path: Path, rows: Rows) -> None:
    """Headless Chromium signs in, watches the Node SDK's message arrive live with a refused
    one, opens it, reads an account's charts, and axe-core finds no serious or critical
    violation on any page. Screenshots go to `tmp_path` (or PULSEGATE_SCREENSHOTS)."""
    import asyncio
    import os

    from tests import clients

    clients.install()
    server = start_server(database_url, tmp_path / "console")
    tenant = asyncio.run(create_tenant(database_url))
    shots = Path(os.environ.get("PULSEGATE_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    today = datetime.now(UTC).date()
    try:
        with httpx.Client(base_url=server.url, headers=bearer(tenant)) as http:
            calls = [
                {
                    "type": "group",
                    "userId": "browser-user",
                    "groupId": "acme",
                    "traits": {"name": "Acme", "createdAt": "2024-01-01"},
                },
                {"type": "track", "userId": "browser-user", "event": "Report Built"},
            ]
            sent = http.post("/v1/batch", json={"batch": calls}, headers=basic(tenant.write_key))
            assert sent.json() == {"success": True}
            eventually_sync(
                lambda: http.get("/api/v1/accounts/acme").status_code,
                lambda status: status == 200,
                what="the account to be projected",
            )
            # Custom metrics on three days, and a health-score run over them.
            http.post(
                "/api/v1/fields",
                json={"object": "account", "kind": "metric", "key": "mrr", "type": "number"},
            )
            values = [
                {
                    "object": "account",
                    "id": "acme",
                    "key": "mrr",
                    "value": 100 + 10 * n,
                    "date": str(today - timedelta(days=2 - n)),
                }
                for n in range(3)
            ]
            assert http.post("/api/v1/metrics", json={"items": values}).status_code == 200
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
            assert http.put("/api/v1/health-scores/config", json=config).status_code == 200
            assert http.post("/api/v1/health-scores/runs").status_code == 200
            api_health = http.get("/api/v1/accounts/acme/health").json()["items"]
            api_mrr = http.get("/api/v1/accounts/acme/metrics/mrr").json()["items"]
        lines = clients.run(
            "console.mjs",
            {
                "url": server.url,
                "key": tenant.api_key,
                "writeKey": tenant.write_key,
                "chromium": clients.chromium(),
                "account": "acme",
                "shots": str(shots),
            },
        )
    finally:
        server.stop()
    [debugger] = [line for line in lines if "debugger" in line]
    statuses = {row[1] for row in debugger["debugger"]}
    assert statuses == {"accepted", "refused"}
    [refused] = [row for row in debugger["debugger"] if row[1] == "refused"]
    assert refused[5].startswith("missing: event")
    assert '"event": "Console Event"' in debugger["detail"]
    [account] = [line["account"] for line in lines if "account" in line]
    charts = {chart["title"]: chart for chart in account["charts"]}
    assert (charts["Daily usage"]["points"], charts["Daily usage"]["canvas"]) == (30, True)
    assert charts["Metric: mrr"]["points"] == len(api_mrr) == 3
    assert charts["Health score"]["points"] == len(api_health) == 1
    assert account["healthScores"] == [str(item["score"]) for item in reversed(api_health)]
    assert account["healthScores"] == ["60"]  # mrr 120 today, scored linearly on 0-200
    audits = [line for line in lines if "axe" in line]
    assert len(audits) == 8
    for audit in audits:
        serious = [v for v in audit["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], (audit["axe"], serious)
    [errors] = [line["consoleErrors"] for line in lines if "consoleErrors" in line]
    assert errors == []  # no script or style refused by the CSP, no failed request
    assert {p.name for p in shots.glob("*.png")} >= {"debugger.png", "accounts.png", "account.png"}
