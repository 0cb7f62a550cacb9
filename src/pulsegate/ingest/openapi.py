"""The Segment-compatible routes in the OpenAPI document.

They are answered by `SegmentIngress` in front of FastAPI (asgi.py), so FastAPI knows nothing
of them; this describes them from the same table of paths (paths.py), with the messages,
limits and answers of docs/segment-api.md.
"""

from __future__ import annotations

from typing import Any

from pulsegate.ingest.paths import ROUTES

TAG = "segment"

WRITE_KEY_SCHEME = {
    "type": "http",
    "scheme": "basic",
    "description": "A source's write key as the Basic-auth user name, with an empty password "
    "(as Segment's SDKs send it). Also accepted: `writeKey` at the root of the JSON body, "
    "`?writeKey=` in the URL, or an `X-Write-Key` header.",
}

_MESSAGE_EXAMPLES: dict[str, dict[str, Any]] = {
    "track": {
        "userId": "u-123",
        "event": "Report Built",
        "properties": {"module": "Reports"},
        "context": {"groupId": "acme"},
        "timestamp": "2026-11-20T09:30:00.000Z",
        "messageId": "ajs-next-1732095000000-6f1c2d4e",
    },
    "identify": {
        "userId": "u-123",
        "anonymousId": "anon-9f2c",
        "traits": {"email": "ada@acme.example", "first_name": "Ada", "title": "Head of Analytics"},
    },
    "group": {
        "userId": "u-123",
        "groupId": "acme",
        "traits": {"name": "Acme Inc.", "createdAt": "2024-03-01", "tier": "Gold"},
    },
    "page": {"anonymousId": "anon-9f2c", "name": "Dashboard", "category": "Reports"},
    "screen": {"userId": "u-123", "name": "Settings"},
    "alias": {"userId": "u-123", "previousId": "anon-9f2c"},
}

SCHEMAS: dict[str, Any] = {
    "SegmentMessage": {
        "title": "SegmentMessage",
        "type": "object",
        "description": "One Segment message (the Segment Spec). It needs `userId` or "
        "`anonymousId`; a track call needs `event`, a group call `groupId`, an alias `userId` "
        "and `previousId`; `properties`, `traits`, `context` and `integrations` are objects; "
        "at most 32 KiB. A missing `messageId` gets a UUID, `receivedAt` is the server's "
        "clock, and `timestamp` is corrected for the device's clock skew with `sentAt`. "
        "Other fields are kept as sent.",
        "properties": {
            "type": {
                "type": "string",
                "enum": ["track", "identify", "group", "page", "screen", "alias"],
                "description": "Set by the path on the single-call routes.",
            },
            "userId": {"type": "string"},
            "anonymousId": {"type": "string"},
            "event": {"type": "string", "description": "A track call's event: the feature."},
            "groupId": {"type": "string", "description": "The account."},
            "previousId": {"type": "string"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            "context": {"type": "object"},
            "integrations": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
            "sentAt": {"type": "string", "format": "date-time"},
            "messageId": {"type": "string", "maxLength": 100},
        },
        "additionalProperties": True,
        "examples": [_MESSAGE_EXAMPLES["track"]],
    },
    "SegmentBatch": {
        "title": "SegmentBatch",
        "type": "object",
        "description": "Up to 2,500 messages and 500 KiB. The root's `context` and "
        "`integrations` are merged into each item (the item's keys win); its `sentAt` "
        "corrects the items' timestamps.",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": {"$ref": "#/components/schemas/SegmentMessage"}},
            "context": {"type": "object"},
            "integrations": {"type": "object"},
            "sentAt": {"type": "string", "format": "date-time"},
        },
        "examples": [
            {
                "batch": [
                    {"type": "identify", **_MESSAGE_EXAMPLES["identify"]},
                    {"type": "track", **_MESSAGE_EXAMPLES["track"]},
                ],
                "sentAt": "2026-11-20T09:30:01.000Z",
            }
        ],
    },
    "SegmentSuccess": {
        "title": "SegmentSuccess",
        "type": "object",
        "description": "Every message is committed to the database (a duplicate `messageId` "
        "within the dedup window is acknowledged and not stored again). A batch lists the "
        "items it refused, if any, under `rejected`; the others are stored.",
        "required": ["success"],
        "properties": {
            "success": {"type": "boolean", "const": True},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "messageId": {"type": ["string", "null"]},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {"type": "array", "items": {}},
                    },
                },
            },
        },
        "examples": [
            {"success": True},
            {
                "success": True,
                "rejected": [
                    {
                        "index": 1,
                        "messageId": "m-2",
                        "code": "invalid_message",
                        "message": "event: a track call needs an event",
                        "details": [{"field": "event", "message": "required"}],
                    }
                ],
            },
        ],
    },
    "SegmentError": {
        "title": "SegmentError",
        "type": "object",
        "description": "A refusal: `success` false, a stable `code`, a message for people and "
        "details. Refused messages that can be attributed to a workspace are kept with their "
        "reasons (GET /api/v1/rejected-messages).",
        "required": ["success", "code", "message"],
        "properties": {
            "success": {"type": "boolean", "const": False},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {}},
        },
        "examples": [
            {
                "success": False,
                "code": "invalid_write_key",
                "message": "the write key is not valid",
                "details": [],
            }
        ],
    },
}

_REFUSALS = {
    "400": "`invalid_message` (a hard rule failed; `details` names each field), `invalid_json`, "
    "`invalid_gzip`, `invalid_batch`, `nesting_too_deep`",
    "401": "`missing_write_key`, `invalid_write_key`, `invalid_authorization`; on a webhook "
    "source with a secret, `missing_signature`, `invalid_signature`",
    "403": "`source_disabled`, `origin_not_allowed`",
    "413": "`payload_too_large`, `too_many_messages`: over a limit, which the message names",
    "429": "`rate_limited`: the source's messages a second; retry after `Retry-After` seconds",
    "500": "`storage_failed`: the storing transaction failed; retry",
    "503": "`database_unavailable`, `overloaded`: retry after `Retry-After` seconds",
}


def _operation(path: str, kind: str, call: str | None) -> dict[str, Any]:
    if kind == "single":
        assert call is not None
        short = path != f"/v1/{call}"
        summary = f"A {call} call" + (
            f" (analytics.js's short path for /v1/{call})" if short else ""
        )
        description = (
            f"Stores one {call} call; the path sets its `type`. Answers 200 once it is "
            "committed, 400 with the reasons (kept) when a hard rule fails."
        )
        schema, example = "SegmentMessage", _MESSAGE_EXAMPLES[call]
    elif kind == "batch":
        summary = "A batch of calls" + (
            " (analytics.js's batching path)" if path == "/v1/b" else ""
        )
        description = (
            "Stores each valid item of a batch. A batch is never refused for one bad item: the "
            "answer is 200 and lists the refused ones under `rejected` (a 4xx would make the "
            "SDK drop the valid items too)."
        )
        schema, example = "SegmentBatch", SCHEMAS["SegmentBatch"]["examples"][0]
    else:
        summary = "Segment's Webhooks destination"
        description = (
            "One message of any type, or a JSON array of them (batched webhooks), as Segment's "
            "Webhooks destination posts them. On a source created with a webhook secret, "
            "`X-Signature` must be the hex HMAC-SHA1 of the body (of its first element for a "
            "batched delivery)."
        )
        schema, example = "SegmentMessage", {"type": "track", **_MESSAGE_EXAMPLES["track"]}
    media = {"schema": {"$ref": f"#/components/schemas/{schema}"}, "example": example}
    return {
        "tags": [TAG],
        "summary": summary,
        "description": description
        + " Bodies may be `application/json` or `text/plain` (analytics.js), gzipped with "
        "`Content-Encoding: gzip`. Limits apply to the decompressed bytes.",
        "operationId": "segment_" + path.strip("/").replace("/", "_"),
        "security": [{"WriteKey": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": media, "text/plain": media},
        },
        "responses": {
            "200": {
                "description": "Stored (committed)",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/SegmentSuccess"}}
                },
            },
            **{
                status: {
                    "description": text,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/SegmentError"}
                        }
                    },
                }
                for status, text in _REFUSALS.items()
            },
        },
    }


def with_segment_routes(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with every Segment route, its schemas and the write-key scheme."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components.setdefault("securitySchemes", {})["WriteKey"] = WRITE_KEY_SCHEME
    paths = spec.setdefault("paths", {})
    for path, (kind, call) in ROUTES.items():
        paths[path] = {"post": _operation(path, kind, call)}
    return spec
