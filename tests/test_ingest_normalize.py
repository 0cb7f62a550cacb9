"""Normalisation as Segment does it, checked on the stored message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import orjson

from pulsegate.ingest.normalize import normalize
from tests.support.database import Rows
from tests.support.http import basic
from tests.support.tenants import Tenant


def test_clock_skew_worked_example_from_the_segment_spec() -> None:
    received_at = datetime(2015, 12, 12, 19, 11, 1, 266_000, tzinfo=UTC)
    result = normalize(
        {
            "type": "track",
            "userId": "u",
            "event": "e",
            "timestamp": "2015-12-12T19:11:01.152Z",
            "sentAt": "2015-12-12T19:11:01.169Z",
        },
        received_at=received_at,
        batch_root=None,
        client_ip=None,
    )
    assert result.timestamp == datetime(2015, 12, 12, 19, 11, 1, 249_000, tzinfo=UTC)
    assert result.message["timestamp"] == "2015-12-12T19:11:01.249Z"
    assert result.message["originalTimestamp"] == "2015-12-12T19:11:01.152Z"
    assert result.message["receivedAt"] == "2015-12-12T19:11:01.266Z"
    assert result.warnings == []


def test_batch_root_sent_at_corrects_items_and_python_offsets_parse() -> None:
    received_at = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    result = normalize(
        {
            "type": "track",
            "userId": "u",
            "event": "e",
            "timestamp": "2024-05-01T10:00:00.000+00:00",
        },
        received_at=received_at,
        batch_root={"sentAt": "2024-05-01T10:00:02.500000+00:00"},
        client_ip=None,
    )
    # The device clock is 2.5 s behind: the event happened 2.5 s before receipt.
    assert result.message["timestamp"] == "2024-05-01T10:00:02.500Z"
    assert result.message["sentAt"] == "2024-05-01T10:00:02.500000+00:00"


def test_without_sent_at_the_timestamp_is_kept_and_without_timestamp_receipt_is_used() -> None:
    received_at = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    kept = normalize(
        {"type": "track", "timestamp": "2024-05-01T09:00:00Z"},
        received_at=received_at,
        batch_root=None,
        client_ip=None,
    )
    assert kept.message["timestamp"] == "2024-05-01T09:00:00.000Z"
    now = normalize({"type": "track"}, received_at=received_at, batch_root=None, client_ip=None)
    assert now.message["timestamp"] == "2024-05-01T10:00:05.000Z"
    assert "originalTimestamp" not in now.message


def test_unparseable_timestamp_is_a_warning_not_a_refusal() -> None:
    received_at = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    result = normalize(
        {"type": "track", "timestamp": "yesterday"},
        received_at=received_at,
        batch_root=None,
        client_ip=None,
    )
    assert result.message["timestamp"] == "2024-05-01T10:00:05.000Z"
    assert result.warnings == [
        {
            "field": "timestamp",
            "code": "invalid_timestamp",
            "message": "timestamp is not an ISO-8601 date-time; it was not used",
        }
    ]


async def test_stored_message_is_normalised(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/batch",
        json={
            "writeKey": tenant.write_key,
            "sentAt": "2015-12-12T19:11:01.169Z",
            "context": {"library": {"name": "root-lib"}, "locale": "en-US"},
            "integrations": {"All": False},
            "batch": [
                {
                    "type": "track",
                    "userId": 42,
                    "anonymousId": None,
                    "event": "Clicked",
                    "messageId": "m-norm",
                    "timestamp": "2015-12-12T19:11:01.152Z",
                    "context": {"library": {"name": "item-lib"}},
                },
                {"type": "page", "anonymousId": "a-1", "name": None, "category": None},
            ],
        },
    )
    assert response.json() == {"success": True}
    first, second = rows.inbound(tenant.workspace_id)
    message = first["message"]
    assert message["userId"] == "42"
    assert "anonymousId" not in message
    assert "writeKey" not in message
    assert message["context"] == {
        "library": {"name": "item-lib"},
        "locale": "en-US",
        "ip": "203.0.113.7",
    }
    assert message["integrations"] == {"All": False}
    assert message["originalTimestamp"] == "2015-12-12T19:11:01.152Z"
    received = datetime.fromisoformat(message["receivedAt"])
    assert first["received_at"] == received
    assert first["timestamp"] == datetime.fromisoformat(message["timestamp"])
    # receivedAt - 17 ms of skew
    assert (received - first["timestamp"]).total_seconds() == 0.017
    assert second["type"] == "page"
    assert "name" not in second["message"]
    assert "category" not in second["message"]
    assert len(second["message"]["messageId"]) == 36  # a UUID was assigned


async def test_path_decides_the_type_and_short_paths_work(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    for path, body in [
        ("/v1/t", {"userId": "u", "event": "e"}),
        ("/v1/i", {"userId": "u", "type": "track"}),
        ("/v1/g", {"userId": "u", "groupId": "g"}),
        ("/v1/p", {"anonymousId": "a"}),
        ("/v1/s", {"anonymousId": "a"}),
        ("/v1/a", {"userId": "u", "previousId": "a"}),
    ]:
        response = await client.post(
            path,
            content=orjson.dumps({**body, "writeKey": tenant.write_key}),
            headers={"Content-Type": "text/plain"},
        )
        assert response.status_code == 200, response.text
    stored = [row["type"] for row in rows.inbound(tenant.workspace_id)]
    assert stored == ["track", "identify", "group", "page", "screen", "alias"]


async def test_soft_trait_problems_are_stored_as_warnings(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/group",
        headers=basic(tenant.write_key),
        json={
            "userId": "u",
            "groupId": "acme",
            "traits": {
                "name": "Acme",
                "createdAt": "2024-01-02T03:04:05Z",
                "employees": "a lot",
                "is_churned": "no",
                "description": "d" * 513,
                "biling_city": "Berlin",
                "createdat_custom": "whatever",
            },
        },
    )
    assert response.status_code == 200
    [stored] = rows.inbound(tenant.workspace_id)
    assert stored["message"]["traits"]["employees"] == "a lot"  # kept as sent
    assert sorted((w["field"], w["message"]) for w in stored["warnings"]) == [
        ("traits.description", "description must be at most 512 characters"),
        ("traits.employees", "employees must be a number"),
        ("traits.is_churned", "is_churned must be true or false"),
    ]


async def test_identify_traits_match_any_spelling(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await client.post(
        "/v1/identify",
        headers=basic(tenant.write_key),
        json={"userId": "u", "traits": {"firstName": {"x": 1}, "createdAt": "not a date"}},
    )
    [stored] = rows.inbound(tenant.workspace_id)
    assert stored["warnings"] == [
        {
            "field": "traits.firstName",
            "code": "invalid_trait",
            "message": "firstName must be a string",
        }
    ]


async def test_duplicates_are_acknowledged_and_stored_once(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    body = {"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "dup"}]}
    responses = await asyncio.gather(
        *(client.post("/v1/batch", json=body, headers=basic(tenant.write_key)) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {200}
    assert [row["message_id"] for row in rows.inbound(tenant.workspace_id)] == ["dup"]


async def test_concurrent_requests_share_flushes_and_all_land(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    async def send(i: int) -> int:
        response = await client.post(
            "/v1/track",
            json={"userId": f"u{i}", "event": "e", "messageId": f"c-{i}"},
            headers=basic(tenant.write_key),
        )
        return response.status_code

    statuses = await asyncio.gather(*(send(i) for i in range(300)))
    assert set(statuses) == {200}
    stored = {row["message_id"] for row in rows.inbound(tenant.workspace_id)}
    assert stored == {f"c-{i}" for i in range(300)}


async def test_same_message_id_in_two_workspaces_is_two_messages(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str, rows: Rows
) -> None:
    from tests.support.tenants import create_tenant

    other = await create_tenant(database_url)
    for owner in (tenant, other):
        await client.post(
            "/v1/track",
            json={"userId": "u", "event": "e", "messageId": "shared-id"},
            headers=basic(owner.write_key),
        )
    assert len(rows.inbound(tenant.workspace_id)) == 1
    assert len(rows.inbound(other.workspace_id)) == 1


async def test_trailing_slash_names_the_same_route(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/import/",
        json={"batch": [{"type": "track", "userId": "u", "event": "e", "messageId": "slash"}]},
        headers=basic(tenant.write_key),
    )
    assert response.json() == {"success": True}
    assert [row["message_id"] for row in rows.inbound(tenant.workspace_id)] == ["slash"]


async def test_other_methods_on_segment_routes_are_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/track")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST, OPTIONS"
