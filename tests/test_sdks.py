"""Unmodified SDKs against a running `pulsegate serve` over TCP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from tests.support.database import Rows
from tests.support.servers import LiveServer, cli_json, new_tenant


def send_mixed_workload(client: Any, prefix: str) -> set[str]:
    """Every call type, with fixed message ids so the same batch can be sent again."""
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (
            client.identify,
            {"user_id": "u-1", "traits": {"email": "a@example.com", "first_name": "A"}},
        ),
        (
            client.track,
            {"user_id": "u-1", "event": "Report Built", "properties": {"module": "Reports"}},
        ),
        (
            client.group,
            {"user_id": "u-1", "group_id": "acct-1", "traits": {"name": "Acme", "employees": 40}},
        ),
        (
            client.page,
            {"anonymous_id": "anon-1", "name": "Pricing", "properties": {"path": "/pricing"}},
        ),
        (client.screen, {"user_id": "u-1", "name": "Home"}),
        (client.alias, {"previous_id": "anon-1", "user_id": "u-1"}),
        (client.track, {"anonymous_id": "anon-1", "event": "Signed Up"}),
    ]
    message_ids = set()
    for number, (call, arguments) in enumerate(calls):
        message_id = f"{prefix}-{number}"
        call(message_id=message_id, **arguments)
        message_ids.add(message_id)
    return message_ids


def deliver_twice(client: Any, prefix: str) -> set[str]:
    """Send the workload, then the same messages again (as an SDK retry would), and shut down."""
    sent = send_mixed_workload(client, prefix)
    client.flush()
    send_mixed_workload(client, prefix)
    client.shutdown()
    return sent


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_python_sdk_messages_are_stored_once(
    live_server: LiveServer, rows: Rows, gzip: bool
) -> None:
    source = new_tenant(live_server)
    errors: list[Any] = []
    client = SegmentClient(
        source["write_key"],
        host=live_server.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(error),
        upload_interval=0.05,
        max_retries=2,
    )
    sent = deliver_twice(client, "seg")
    assert errors == []
    stored = rows.inbound(uuid.UUID(source["workspace_id"]))
    assert sorted(row["message_id"] for row in stored) == sorted(sent)
    by_id = {row["message_id"]: row for row in stored}
    assert by_id["seg-0"]["type"] == "identify"
    assert by_id["seg-2"]["message"]["groupId"] == "acct-1"
    assert by_id["seg-3"]["message"]["context"]["library"]["name"] == "analytics-python"
    assert "userId" not in by_id["seg-3"]["message"]  # sent as null by the SDK
    assert by_id["seg-5"]["message"]["previousId"] == "anon-1"


def test_rudderstack_python_sdk_with_gzip_is_stored_once(
    live_server: LiveServer, rows: Rows
) -> None:
    source = new_tenant(live_server)
    errors: list[Any] = []
    client = RudderClient(
        source["write_key"],
        host=live_server.url,
        gzip=True,
        on_error=lambda error, batch: errors.append(error),
        upload_interval=0.05,
        max_retries=2,
    )
    sent = deliver_twice(client, "rud")
    assert errors == []
    stored = rows.inbound(uuid.UUID(source["workspace_id"]))
    assert sorted(row["message_id"] for row in stored) == sorted(sent)
    track = next(row for row in stored if row["message_id"] == "rud-1")
    assert track["message"]["properties"] == {"module": "Reports"}
    assert track["message"]["integrations"] == {"All": True}


def test_sdk_sees_a_refusal_as_final_with_code_and_message(live_server: LiveServer) -> None:
    """A 4xx with `code` and `message` makes segment-analytics-python give up, not retry."""
    source = new_tenant(live_server)
    errors: list[Any] = []
    client = SegmentClient(
        "wrong-" + source["write_key"],
        host=live_server.url,
        on_error=lambda error, batch: errors.append(error),
        sync_mode=True,
        max_retries=0,
    )
    with pytest.raises(Exception, match="invalid_write_key") as raised:
        client.track(user_id="u", event="e")
    assert getattr(raised.value, "status", None) == 401


def test_segment_sdk_in_rest_api_out_through_a_running_server(
    live_server: LiveServer,
) -> None:
    """Seed 001's calls from the unmodified SDK; the server's projector and REST API answer."""
    source = new_tenant(live_server)
    workspace = source["workspace_id"]
    api_key = cli_json(live_server.env, "apikey", "create", workspace)["api_key"]
    headers = {"Authorization": f"Bearer {api_key}"}
    client = SegmentClient(source["write_key"], host=live_server.url, sync_mode=True)
    client.identify(
        "ada",
        {"firstName": "Ada", "email": "ada@acme.example", "title": "CTO"},
        anonymous_id="anon-7",
    )
    client.group(
        "ada",
        "acme",
        {"name": "Acme", "createdAt": "2024-03-01", "biling_city": "Springfield", "employees": 40},
    )
    client.page(anonymous_id="anon-7", name="Pricing", category="Marketing")
    client.track("ada", "Report Built", {"module": "Reports"})

    deadline = time.monotonic() + 10
    while True:
        account = httpx.get(f"{live_server.url}/api/v1/accounts/acme", headers=headers)
        events = httpx.get(f"{live_server.url}/api/v1/events?account_id=acme", headers=headers)
        if account.status_code == 200 and len(events.json()["items"]) == 2:
            break
        assert time.monotonic() < deadline, (account.text, events.text)
        time.sleep(0.1)
    body = account.json()
    assert (body["name"], body["billing_city"], body["employees"], body["user_count"]) == (
        "Acme",
        "Springfield",
        40,
        1,
    )
    user = httpx.get(f"{live_server.url}/api/v1/users/ada", headers=headers).json()
    assert (user["first_name"], user["title"], user["account_id"]) == ("Ada", "CTO", "acme")
    page, track = events.json()["items"]
    assert (page["type"], page["name"], page["user_id"]) == ("page", "Pricing", "ada")  # stitched
    assert (track["name"], track["module"]) == ("Report Built", "Reports")
