"""Every refusal path: its status, its stable code, and whether the refused bytes were kept."""

from __future__ import annotations

import gzip
import zlib

import httpx
import orjson
import pytest

from tests.support.database import Rows
from tests.support.http import basic
from tests.support.tenants import Tenant

TRACK = {"userId": "u1", "event": "Clicked", "messageId": "m-1"}


async def test_missing_write_key_is_401_and_stores_nothing(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    before = rows.count_all("rejected_messages"), rows.count_all("inbound_messages")
    response = await client.post("/v1/track", json=TRACK)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "code": "missing_write_key",
        "message": "no write key: send it as the Basic-auth user name or as writeKey in the body",
        "details": [],
    }
    assert (rows.count_all("rejected_messages"), rows.count_all("inbound_messages")) == before


async def test_unknown_write_key_is_401_and_stores_nothing(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    before = rows.count_all("rejected_messages"), rows.count_all("inbound_messages")
    response = await client.post("/v1/track", json={**TRACK, "writeKey": "not-a-key"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_write_key"
    response = await client.post("/v1/track", json=TRACK, headers=basic("also-not-a-key"))
    assert response.json()["code"] == "invalid_write_key"
    assert (rows.count_all("rejected_messages"), rows.count_all("inbound_messages")) == before


async def test_malformed_basic_header_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/track", json=TRACK, headers={"Authorization": "Basic %%%not-base64"}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_authorization"


@pytest.mark.parametrize(
    "how",
    ["basic", "basic-without-colon", "body", "query", "x-write-key"],
)
async def test_write_key_accepted_from_every_place_sdks_put_it(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows, how: str
) -> None:
    body, headers, params = dict(TRACK), {}, {}
    if how == "basic":
        headers = basic(tenant.write_key)
    elif how == "basic-without-colon":
        headers = basic(tenant.write_key, colon=False)
    elif how == "body":
        body["writeKey"] = tenant.write_key
    elif how == "query":
        params = {"writeKey": tenant.write_key}
    else:
        headers = {"X-Write-Key": tenant.write_key}
    response = await client.post("/v1/track", json=body, headers=headers, params=params)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    stored = rows.inbound(tenant.workspace_id)
    assert [row["message_id"] for row in stored] == ["m-1"]
    assert "writeKey" not in stored[0]["message"]


async def test_invalid_json_is_400_and_kept(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    raw = b'{"userId": "u1", "event": '
    response = await client.post("/v1/track", content=raw, headers=basic(tenant.write_key))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert response.json()["success"] is False
    [kept] = rows.rejected(tenant.workspace_id)
    assert bytes(kept["raw_body"]) == raw
    assert kept["endpoint"] == "/v1/track"
    assert kept["reasons"][0]["code"] == "invalid_json"
    assert rows.inbound(tenant.workspace_id) == []


async def test_invalid_utf8_is_invalid_json(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    raw = b'{"userId": "u\xff\xfe", "event": "x"}'
    response = await client.post("/v1/track", content=raw, headers=basic(tenant.write_key))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"
    assert bytes(rows.rejected(tenant.workspace_id)[0]["raw_body"]) == raw


async def test_single_message_over_32_kib_is_413_and_kept_truncated(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    body = orjson.dumps({**TRACK, "properties": {"blob": "x" * 40_000}})
    response = await client.post("/v1/track", content=body, headers=basic(tenant.write_key))
    assert response.status_code == 413
    payload = response.json()
    assert payload["code"] == "payload_too_large"
    assert "32,768 bytes" in payload["message"]
    [kept] = rows.rejected(tenant.workspace_id)
    assert kept["body_truncated"] is True
    assert bytes(kept["raw_body"]) == body[:32_768]


async def test_batch_over_500_kib_is_413(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    batch = [{**TRACK, "messageId": f"m-{i}", "properties": {"p": "y" * 20_000}} for i in range(30)]
    response = await client.post(
        "/v1/batch", content=orjson.dumps({"batch": batch}), headers=basic(tenant.write_key)
    )
    assert response.status_code == 413
    assert "512,000 bytes" in response.json()["message"]
    assert rows.inbound(tenant.workspace_id) == []
    assert rows.rejected(tenant.workspace_id)[0]["reasons"][0]["code"] == "payload_too_large"


async def test_chunked_upload_without_length_is_capped(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    sent = 0

    async def endless() -> object:
        nonlocal sent
        chunk = b"[" + b" " * 65_535
        for _ in range(10_000):  # 640 MiB if nobody stops reading
            sent += len(chunk)
            yield chunk

    response = await client.post("/v1/batch", content=endless(), headers=basic(tenant.write_key))
    assert response.status_code == 413
    assert sent < 2 * 1024 * 1024
    assert rows.rejected(tenant.workspace_id)[0]["body_truncated"] is True


async def test_more_than_2500_messages_is_413(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    batch = [{"type": "track", "userId": "u", "event": "e"} for _ in range(2501)]
    response = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 413
    assert response.json()["code"] == "too_many_messages"
    assert "at most 2,500 messages" in response.json()["message"]
    assert rows.inbound(tenant.workspace_id) == []
    assert rows.rejected(tenant.workspace_id)[0]["reasons"][0]["code"] == "too_many_messages"


async def test_gzip_bomb_is_413_without_inflating_it(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    megabyte = b" " * (1024 * 1024)
    parts = [compressor.compress(b"[")]
    parts += [compressor.compress(megabyte) for _ in range(100)]
    bomb = b"".join(parts) + compressor.flush()
    assert len(bomb) < 200 * 1024  # 100 MiB of JSON in about 100 KiB
    response = await client.post(
        "/v1/batch",
        content=bomb,
        headers={**basic(tenant.write_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert "after decompression" in response.json()["message"]
    [kept] = rows.rejected(tenant.workspace_id)
    assert kept["body_truncated"] is True
    assert len(bytes(kept["raw_body"])) == 512_000


async def test_truncated_gzip_is_400(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> None:
    compressed = gzip.compress(orjson.dumps(TRACK))
    response = await client.post(
        "/v1/track",
        content=compressed[:-10],
        headers={**basic(tenant.write_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_gzip"
    assert bytes(rows.rejected(tenant.workspace_id)[0]["raw_body"]) == compressed[:-10]


async def test_gzip_body_is_accepted(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> None:
    response = await client.post(
        "/v1/track",
        content=gzip.compress(orjson.dumps(TRACK)),
        headers={**basic(tenant.write_key), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert rows.inbound(tenant.workspace_id)[0]["message"]["event"] == "Clicked"


HARD_RULES = [
    pytest.param(
        "/v1/track", {"event": "Clicked"}, "", "missing_user_or_anonymous_id", id="no-ids"
    ),
    pytest.param(
        "/v1/track",
        {"userId": None, "anonymousId": None, "event": "x"},
        "",
        "missing_user_or_anonymous_id",
        id="null-ids",
    ),
    pytest.param("/v1/track", {"userId": "u"}, "event", "missing", id="track-without-event"),
    pytest.param(
        "/v1/track", {"userId": "u", "event": ""}, "event", "string_too_short", id="empty-event"
    ),
    pytest.param("/v1/group", {"userId": "u"}, "groupId", "missing", id="group-without-groupId"),
    pytest.param("/v1/alias", {"previousId": "a"}, "userId", "missing", id="alias-without-userId"),
    pytest.param(
        "/v1/alias", {"userId": "u"}, "previousId", "missing", id="alias-without-previousId"
    ),
    pytest.param(
        "/v1/track",
        {"userId": "u", "event": "e", "properties": [1]},
        "properties",
        "dict_type",
        id="properties-not-object",
    ),
    pytest.param(
        "/v1/identify",
        {"userId": "u", "traits": "vip"},
        "traits",
        "dict_type",
        id="traits-not-object",
    ),
    pytest.param(
        "/v1/page", {"userId": "u", "context": 5}, "context", "dict_type", id="context-not-object"
    ),
    pytest.param(
        "/v1/track",
        {"userId": "u", "event": "e", "messageId": "m" * 101},
        "messageId",
        "string_too_long",
        id="messageId-too-long",
    ),
    pytest.param(
        "/v1/track", {"userId": "u", "event": "e\u0000"}, "", "nul_character", id="nul-character"
    ),
]


@pytest.mark.parametrize(("path", "body", "field", "reason"), HARD_RULES)
async def test_hard_rules_refuse_with_400_and_keep_the_message(
    client: httpx.AsyncClient,
    tenant: Tenant,
    rows: Rows,
    path: str,
    body: dict[str, object],
    field: str,
    reason: str,
) -> None:
    raw = orjson.dumps(body)
    response = await client.post(path, content=raw, headers=basic(tenant.write_key))
    assert response.status_code == 400
    payload = response.json()
    assert payload["success"] is False
    assert payload["code"] == "invalid_message"
    assert {"field": field, "code": reason} == {
        key: payload["details"][0][key] for key in ("field", "code")
    }
    [kept] = rows.rejected(tenant.workspace_id)
    assert orjson.loads(bytes(kept["raw_body"])) == body
    assert kept["reasons"][0]["code"] == reason
    assert rows.inbound(tenant.workspace_id) == []


async def test_unknown_type_in_batch_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/batch",
        json={"batch": [{"type": "purchase", "userId": "u"}]},
        headers=basic(tenant.write_key),
    )
    assert response.status_code == 200
    assert response.json()["rejected"][0]["details"][0]["code"] == "unknown_type"
    assert rows.rejected(tenant.workspace_id)[0]["reasons"][0]["code"] == "unknown_type"


async def test_batch_with_one_bad_item_stores_the_others(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    batch = [
        {"type": "track", "userId": "u1", "event": "A", "messageId": "ok-1"},
        {"type": "track", "userId": "u1", "messageId": "bad-1"},
        {"type": "identify", "anonymousId": "anon", "messageId": "ok-2"},
        "not an object",
    ]
    response = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [(r["index"], r["messageId"], r["code"]) for r in body["rejected"]] == [
        (1, "bad-1", "invalid_message"),
        (3, None, "invalid_message"),
    ]
    assert body["rejected"][0]["message"] == "event: Field required"
    assert [row["message_id"] for row in rows.inbound(tenant.workspace_id)] == ["ok-1", "ok-2"]
    kept = rows.rejected(tenant.workspace_id)
    assert [(row["batch_index"], row["message_id"]) for row in kept] == [(1, "bad-1"), (3, None)]
    assert orjson.loads(bytes(kept[1]["raw_body"])) == "not an object"


async def test_batch_without_batch_array_is_400(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    response = await client.post(
        "/v1/batch", json={"type": "track"}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_batch"
    assert rows.rejected(tenant.workspace_id)[0]["reasons"][0]["code"] == "invalid_batch"


async def test_batch_item_over_32_kib_is_refused_alone(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    batch = [
        {"type": "track", "userId": "u", "event": "big", "properties": {"b": "z" * 33_000}},
        {"type": "track", "userId": "u", "event": "small", "messageId": "small"},
    ]
    response = await client.post(
        "/v1/batch", json={"batch": batch}, headers=basic(tenant.write_key)
    )
    assert response.status_code == 200
    assert response.json()["rejected"][0]["details"][0]["code"] == "message_too_large"
    assert [row["message_id"] for row in rows.inbound(tenant.workspace_id)] == ["small"]


async def test_disabled_source_is_403_and_stores_nothing(
    client: httpx.AsyncClient, database_url: str, rows: Rows
) -> None:
    from tests.support.tenants import create_tenant

    tenant = await create_tenant(database_url)
    rows.query("UPDATE sources SET enabled = false WHERE id = %s RETURNING id", tenant.source_id)
    response = await client.post("/v1/track", json=TRACK, headers=basic(tenant.write_key))
    assert response.status_code == 403
    assert response.json()["code"] == "source_disabled"
    assert rows.rejected(tenant.workspace_id) == []
