"""One way into the log: the REST writes are refused as a Segment call with the same content,
and every refusal leaves a keep-alive connection usable.

The first three tests are defects found by trying the server as a user would: they run against
a real `pulsegate serve` on one keep-alive connection, so a dropped connection fails them.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.database import Rows
from tests.support.servers import LiveServer
from tests.support.tenants import Tenant
from tests.support.waiting import eventually

MESSAGE_LIMIT = 32 * 1024  # the default PULSEGATE_MAX_MESSAGE_BYTES


class KeepAlive:
    """One HTTP/1.1 connection: each exchange must be answered on it."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection

    def send(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        socket_before = self._connection.sock
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        payload = response.read()
        assert socket_before is None or self._connection.sock is socket_before, "reconnected"
        names = {name.lower(): value for name, value in response.getheaders()}
        return response.status, names, json.loads(payload) if payload else None


@contextmanager
def keep_alive(server: LiveServer) -> Iterator[KeepAlive]:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        yield KeepAlive(connection)
    finally:
        connection.close()


def json_headers(tenant: Tenant) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"}


def assert_still_answers(client: KeepAlive, tenant: Tenant) -> None:
    status, headers, body = client.send("GET", "/api/v1/accounts", **json_headers(tenant))
    assert status == 200, body
    assert headers.get("connection") != "close"


def test_an_oversized_rest_write_is_refused_and_kept_not_logged(
    live_server: LiveServer, tenant: Tenant, rows: Rows
) -> None:
    """Defect: a 1 MiB `name` was accepted and stored in the log."""
    body = json.dumps({"name": "n" * 1024 * 1024}).encode()
    with keep_alive(live_server) as client:
        status, headers, answer = client.send(
            "PUT", "/api/v1/accounts/big", body, **json_headers(tenant)
        )
        assert (status, answer["code"]) == (413, "payload_too_large")
        assert headers.get("connection") != "close"
        assert_still_answers(client, tenant)
    assert rows.inbound(tenant.workspace_id) == []
    [kept] = rows.rejected(tenant.workspace_id)
    assert kept["endpoint"] == "/api/v1/accounts/big"
    assert kept["body_truncated"] is True
    assert len(kept["raw_body"]) == MESSAGE_LIMIT
    assert kept["reasons"][0]["code"] == "payload_too_large"


@pytest.mark.parametrize("path", ["/api/v1/accounts/a%00b", "/api/v1/events?user_id=x%00y"])
def test_a_value_the_database_refuses_leaves_the_connection_usable(
    live_server: LiveServer, tenant: Tenant, path: str
) -> None:
    """Defect: the 400 was sent, then the server dropped the keep-alive connection."""
    with keep_alive(live_server) as client:
        for _ in range(2):
            status, headers, answer = client.send("GET", path, **json_headers(tenant))
            assert (status, answer["code"]) == (400, "invalid_value"), answer
            assert headers.get("connection") != "close"
        assert_still_answers(client, tenant)


def test_a_metric_that_is_not_finite_is_refused(
    live_server: LiveServer, tenant: Tenant, rows: Rows
) -> None:
    """Defect: `1e400` was stored as infinity, shown as null and scored 100."""
    definition = {"object": "account", "kind": "metric", "key": "mrr", "type": "number"}
    created = httpx.post(
        f"{live_server.url}/api/v1/fields", json=definition, headers=json_headers(tenant)
    )
    assert created.status_code == 201, created.text
    with keep_alive(live_server) as client:
        for number in ("1e400", "-1e400", "NaN", "Infinity"):
            body = b'{"items": [{"object": "account", "id": "acme", "key": "mrr", "value": %s}]}'
            status, _, answer = client.send(
                "POST", "/api/v1/metrics", body % number.encode(), **json_headers(tenant)
            )
            assert (status, answer["code"]) == (400, "invalid_value"), (number, answer)
        assert_still_answers(client, tenant)
    assert (
        rows.query("SELECT * FROM metric_values WHERE workspace_id = %s", tenant.workspace_id) == []
    )


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


# The same content as a Segment group call's traits and as a REST account upsert's body,
# with the status and code both must answer.
REFUSED_CONTENT = {
    "oversized": ('"name": "%s"' % ("n" * (MESSAGE_LIMIT + 100)), 413, "payload_too_large"),
    "too deep": (f'"custom": {_nested(300)}', 400, "nesting_too_deep"),
    "NUL": ('"name": "a\\u0000b"', 400, "invalid_message"),
    "not finite": ('"employees": 1e400', 400, "invalid_value"),
}


@pytest.mark.parametrize("content", REFUSED_CONTENT, ids=list(REFUSED_CONTENT))
async def test_a_rest_write_is_refused_as_the_segment_call_with_the_same_content(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, content: str
) -> None:
    fields, status, code = REFUSED_CONTENT[content]
    account = f"acct-{uuid.uuid4().hex[:8]}"
    segment = await client.post(
        "/v1/group",
        content=(
            '{"userId": "u1", "groupId": "' + account + '", "traits": {' + fields + "}}"
        ).encode(),
        auth=(tenant.write_key, ""),
        headers={"Content-Type": "application/json"},
    )
    rest = await client.put(
        f"/api/v1/accounts/{account}",
        content=("{" + fields + "}").encode(),
        headers=json_headers(tenant),
    )
    assert (segment.status_code, segment.json()["code"]) == (status, code), segment.text
    assert (rest.status_code, rest.json()["code"]) == (status, code), rest.text
    assert segment.json()["details"] == rest.json()["details"]
    assert rows.inbound(tenant.workspace_id) == []
    kept = rows.rejected(tenant.workspace_id)
    assert sorted(row["endpoint"] for row in kept) == sorted(
        ["/v1/group", f"/api/v1/accounts/{account}"]
    )
    reasons = [row["reasons"][0]["code"] for row in kept]
    assert reasons[0] == reasons[1]


async def test_a_valid_rest_write_is_the_call_a_segment_client_would_send(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """The write went through the same preparation: normalised and checked as a group call."""
    response = await client.put(
        "/api/v1/accounts/acme",
        json={"name": "Acme", "employees": 12, "custom": {"plan": "pro"}},
        headers=json_headers(tenant),
    )
    assert response.status_code == 202, response.text
    [stored] = rows.inbound(tenant.workspace_id)
    assert stored["message_id"] == response.json()["message_id"]
    assert stored["type"] == "group"
    message = stored["message"]
    assert message["groupId"] == "acme"
    assert message["traits"] == {"name": "Acme", "employees": 12, "plan": "pro"}
    assert message["receivedAt"]
    assert message["context"]["library"]["name"] == "pulsegate-api"


async def test_401_answers_carry_the_challenge_of_their_scheme(client: httpx.AsyncClient) -> None:
    api = await client.get("/api/v1/accounts", headers={"Authorization": "Bearer nope"})
    assert (api.status_code, api.json()["code"]) == (401, "invalid_api_key")
    assert api.headers["www-authenticate"] == 'Bearer realm="pulsegate"'
    segment = await client.post("/v1/track", json={"userId": "u", "event": "E"}, auth=("no", ""))
    assert (segment.status_code, segment.json()["code"]) == (401, "invalid_write_key")
    assert segment.headers["www-authenticate"] == 'Basic realm="pulsegate"'


# (field, value, whether the standard field table accepts it)
TRAIT_VALUES = [
    ("phone", 5551234, True),  # a number for a text field: kept, shown as text
    ("phone", {"work": "555"}, False),
    ("description", "d" * 512, True),
    ("description", "d" * 513, False),
    ("employees", "120", True),
    ("employees", "many", False),
    ("is_churned", "yes", False),
    ("created_at", "2024-03-01", True),
    ("created_at", "last spring", False),
]


@pytest.mark.parametrize(("field", "value", "valid"), TRAIT_VALUES)
async def test_a_standard_field_means_the_same_through_both_doors(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, field: str, value: Any, valid: bool
) -> None:
    """One table declares the standard fields: a value the Segment path keeps with a warning
    (and leaves out of the account) is one the REST API refuses, and the other way round."""
    segment = await client.post(
        "/v1/group",
        json={"userId": "u1", "groupId": "acme", "traits": {field: value}},
        auth=(tenant.write_key, ""),
    )
    assert segment.status_code == 200, segment.text
    [stored] = rows.inbound(tenant.workspace_id)
    warned = [w["field"] for w in stored["warnings"] or []]
    assert warned == ([] if valid else [f"traits.{field}"])

    rest = await client.put(
        "/api/v1/accounts/acme", json={field: value}, headers=json_headers(tenant)
    )
    assert rest.status_code == (202 if valid else 400), rest.text
    if not valid:
        assert rest.json()["code"] == "invalid_request"
        assert rest.json()["details"][0]["field"] == f"body.{field}"


async def test_a_number_in_a_text_field_is_shown_as_text(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    traits = {"name": 42, "createdAt": "2024-03-01", "phone": 5551234, "billing_postal": 75001}
    response = await client.post(
        "/v1/group",
        json={"userId": "u1", "groupId": "acme", "traits": traits},
        auth=(tenant.write_key, ""),
    )
    assert response.status_code == 200, response.text
    await eventually(lambda: rows.projected(tenant.workspace_id), what="projection")
    account = await client.get("/api/v1/accounts/acme", headers=json_headers(tenant))
    assert account.status_code == 200, account.text
    shown = account.json()
    assert (shown["name"], shown["phone"], shown["billing_postal"]) == ("42", "5551234", "75001")
