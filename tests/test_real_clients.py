"""Segment's own JavaScript SDKs, unmodified, from the npm registry: analytics.js in headless
Chromium and @segment/analytics-node. Run with `pytest -m clients` (needs node, npm, chromium).
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import clients
from tests.support.database import Rows
from tests.support.servers import request_log, start_server
from tests.support.tenants import Tenant

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def installed() -> None:
    clients.install()


@pytest.mark.usefixtures("installed")
@pytest.mark.parametrize(
    ("mode", "paths"), [("standard", ["/v1/i", "/v1/t", "/v1/p"]), ("batching", ["/v1/b"])]
)
def test_analytics_js_in_chromium_is_stored(
    mode: str, paths: list[str], database_url: str, tenant: Tenant, rows: Rows, tmp_path: Path
) -> None:
    gateway = start_server(database_url, tmp_path / "gateway")
    user = f"browser-{mode}"
    try:
        site = clients.build_test_page(tmp_path / "site")
        with clients.static_site(site) as origin:
            page = f"{origin}/index.html?writeKey={tenant.write_key}&cdn={gateway.url}&user={user}"
            posts = clients.run(
                "browser.mjs",
                {
                    "page": f"{page}&mode={mode}",
                    "chromium": clients.chromium(),
                    "expect": len(paths),
                },
            )
    finally:
        gateway.stop()

    # What the browser sent: text/plain, the write key in Basic auth and in the body.
    # Standard mode sends each call at once: their answers may come back in any order.
    assert sorted(post["url"].removeprefix(gateway.url) for post in posts) == sorted(paths)
    basic = "Basic " + base64.b64encode(f"{tenant.write_key}:".encode()).decode()
    for post in posts:
        assert post["status"] == 200
        assert post["headers"]["content-type"].startswith("text/plain")
        assert post["headers"]["authorization"] == basic
        assert post["headers"]["origin"] == origin
        assert '"writeKey"' in post["body"]

    # What pulsegate saw: the settings request, and a preflight before each cross-origin post
    # (the Authorization header is not CORS-safelisted).
    seen = Counter(
        (line["method"], line["path"], line["status"]) for line in request_log(gateway.log_path)
    )
    # Logged by its route template: the path holds the write key.
    assert seen[("GET", "/v1/projects/{write_key}/settings", 200)] == 1
    for path in paths:
        assert seen[("OPTIONS", path, 204)] >= 1
        assert seen[("POST", path, 200)] >= 1

    stored = rows.inbound(tenant.workspace_id)
    assert sorted(row["type"] for row in stored) == ["identify", "page", "track"]
    by_type = {row["type"]: row["message"] for row in stored}
    assert {payload["userId"] for payload in by_type.values()} == {user}
    assert len({payload["anonymousId"] for payload in by_type.values()}) == 1
    assert by_type["identify"]["traits"]["email"] == f"{user}@example.com"
    assert by_type["track"]["event"] == "Report Built"
    assert by_type["track"]["properties"]["module"] == "Reports"
    assert (by_type["page"]["category"], by_type["page"]["name"]) == ("Dashboards", "Overview")
    assert by_type["page"]["context"]["library"]["name"] == "analytics.js"
    assert "writeKey" not in by_type["page"]


def test_settings_for_an_unknown_write_key_is_404(live_server: Any) -> None:
    import httpx

    response = httpx.get(f"{live_server.url}/v1/projects/no-such-key/settings")
    assert response.status_code == 404
    assert response.json()["code"] == "invalid_write_key"


@pytest.mark.usefixtures("installed")
def test_node_sdk_mixed_workload_is_stored_exactly_once(
    live_server: Any, tenant: Tenant, rows: Rows
) -> None:
    lines = clients.run(
        "node-sdk.mjs",
        {"host": live_server.url, "writeKey": tenant.write_key, "count": 300, "prefix": "node"},
    )
    assert lines[-1] == {"done": True}
    acked = [line["ack"] for line in lines if "ack" in line]
    assert sorted(acked) == sorted(f"node-{n}" for n in range(300))

    stored = rows.inbound(tenant.workspace_id)
    assert sorted(row["message_id"] for row in stored) == sorted(acked)
    assert Counter(row["type"] for row in stored) == {
        "identify": 50,
        "group": 50,
        "track": 50,
        "page": 50,
        "screen": 50,
        "alias": 50,
    }
    library = {row["message"]["context"]["library"]["name"] for row in stored}
    assert library == {"@segment/analytics-node"}
