"""Fuzzing: schemathesis over the REST API's own OpenAPI, and hypothesis over the Segment
routes with what no SDK would send. Both against a running `pulsegate serve`.

Whatever arrives: no 5xx, an answer within the client's timeout (no hang), and every refusal
is JSON with a stable `code`.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulsegate.app import create_app
from pulsegate.ingest.paths import ROUTES
from pulsegate.settings import Settings
from tests.support.servers import LiveServer, start_server
from tests.support.tenants import ADMIN_TOKEN, Tenant, create_tenant

TIMEOUT = 20  # seconds; a request that takes longer is a hang
FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases on every run: CI failures can be reproduced
    database=None,
)


@pytest.fixture(scope="module")
def fuzz_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server of the module's own, with a known admin token, and no scheduled jobs that
    would touch other tests' workspaces."""
    server = start_server(
        database_url,
        tmp_path_factory.mktemp("fuzz"),
        PULSEGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        PULSEGATE_SCHEDULER_ENABLED="false",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def fuzz_tenant(database_url: str) -> Tenant:
    return asyncio.run(create_tenant(database_url))


def assert_clean(response: Any, request: str) -> None:
    """Not a server error, and a refusal says what was wrong with a code.

    The one 5xx allowed is 502 from a route that must reach Freshsales (a Freshsales connector
    checks its credentials when created), which the fuzzer points at hosts that do not exist.
    """
    if response.status_code >= 400:
        body = response.json()
        upstream = response.status_code == 502 and body.get("code") == "source_unavailable"
        assert response.status_code < 500 or upstream, (request, response.status_code, body)
        assert isinstance(body.get("code"), str), (request, body)
        assert body["code"], (request, body)
        assert isinstance(body.get("message"), str), (request, body)


# The schema the server publishes at /openapi.json; building the app needs no database.
# The Segment routes in it are fuzzed below with hypothesis, with valid and invalid keys.
rest = schemathesis.openapi.from_dict(
    create_app(Settings(database_url="postgresql://-/-")).openapi()
).exclude(path_regex=r"^/v1/(?!projects/)")


@rest.parametrize()
@FUZZ_SETTINGS
def test_rest_api_fuzzed_from_its_openapi(
    case: Any, fuzz_server: LiveServer, fuzz_tenant: Tenant
) -> None:
    token = ADMIN_TOKEN if case.path.startswith("/admin") else fuzz_tenant.api_key
    response = case.call(
        base_url=fuzz_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert_clean(response, f"{case.method} {case.formatted_path}")


# Segment payloads: every field with a value of any JSON type, strings of any characters and
# lengths, nesting past what parsers allow.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    "type",
    "userId",
    "anonymousId",
    "event",
    "groupId",
    "previousId",
    "name",
    "category",
    "properties",
    "traits",
    "context",
    "integrations",
    "timestamp",
    "sentAt",
    "messageId",
    "writeKey",
]
huge_strings = st.integers(min_value=0, max_value=600_000).map(lambda n: "é" * n)
messages = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(FIELDS, json_values | huge_strings)
) | st.dictionaries(st.text(max_size=20), json_values, max_size=6)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """(the body's bytes, whether it is sent as gzip)."""
    shape = draw(st.sampled_from(["message", "batch", "nested", "bytes", "broken-utf8"]))
    if shape == "message":
        raw = json.dumps(draw(messages)).encode()
    elif shape == "batch":
        batch = draw(st.lists(messages, max_size=5) | json_values)
        raw = json.dumps({"batch": batch, "context": draw(json_values)}).encode()
    elif shape == "nested":
        raw = nested(draw(st.integers(min_value=1, max_value=100_000))).encode()
    elif shape == "bytes":
        raw = draw(st.binary(max_size=2000))
    else:  # a valid message with bytes that are not UTF-8 inside a string
        text = json.dumps({"userId": "u", "event": "e", "type": "track"})
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        raw = text[:cut].encode() + draw(st.binary(min_size=1, max_size=8)) + text[cut:].encode()
    compression = draw(st.sampled_from(["none", "gzip", "truncated-gzip"]))
    if compression == "none":
        return raw, False
    packed = gzip.compress(raw)
    if compression == "truncated-gzip":
        packed = packed[: draw(st.integers(min_value=0, max_value=len(packed) - 1))]
    return packed, True


@pytest.fixture(scope="module")
def http(fuzz_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_server.url, timeout=TIMEOUT) as client:
        yield client


@given(
    path=st.sampled_from(sorted(ROUTES)),
    body=bodies(),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/xml"]),
    key_in=st.sampled_from(["basic", "body", "query", "none", "garbage"]),
)
@settings(FUZZ_SETTINGS, max_examples=500)  # cheap: a few milliseconds each
def test_segment_routes_fuzzed(
    http: httpx.Client,
    fuzz_tenant: Tenant,
    path: str,
    body: tuple[bytes, bool],
    content_type: str,
    key_in: str,
) -> None:
    raw, gzipped = body
    headers = {"Content-Type": content_type} if content_type else {}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    params = {}
    if key_in == "basic":
        headers["Authorization"] = basic_auth(fuzz_tenant.write_key)
    elif key_in == "query":
        params["writeKey"] = fuzz_tenant.write_key
    elif key_in == "garbage":
        headers["Authorization"] = "Basic %%%not-base64"
    response = http.post(path, content=raw, headers=headers, params=params)
    assert_clean(response, f"POST {path} {raw[:200]!r}")
    assert response.json()["success"] is (response.status_code == 200)


def basic_auth(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def test_gzip_bomb_and_deep_nesting_through_a_running_server(
    http: httpx.Client, fuzz_tenant: Tenant
) -> None:
    """The extremes the fuzzer's sizes do not reach."""
    auth = {"Authorization": basic_auth(fuzz_tenant.write_key)}
    bomb = gzip.compress(b'{"batch": [' + b" " * 200_000_000 + b"]}", compresslevel=9)
    response = http.post("/v1/batch", content=bomb, headers={**auth, "Content-Encoding": "gzip"})
    assert (response.status_code, response.json()["code"]) == (413, "payload_too_large")

    def track(depth: int) -> str:
        return json.dumps({"userId": "u", "event": "e"})[:-1] + f', "properties": {nested(depth)}}}'

    response = http.post("/v1/track", content=track(200), headers=auth)
    assert response.status_code == 200, response.text
    for depth, code in ((300, "nesting_too_deep"), (5000, "invalid_json")):
        response = http.post("/v1/track", content=track(depth), headers=auth)
        assert (response.status_code, response.json()["code"]) == (400, code)
