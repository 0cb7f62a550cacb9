"""The OpenAPI document as pulsegate answers, not as FastAPI guesses.

FastAPI documents a 422 with its own validation body, which pulsegate never sends (a bad
request is a 400 with the error envelope), and knows nothing of the bearer tokens the auth
dependencies read. This adds the security schemes (so Swagger UI has an Authorize button), the
envelope `{code, message, details}` for every 4xx an operation can answer, and drops the 422.
"""

from __future__ import annotations

from typing import Any

ERROR = {
    "title": "Error",
    "type": "object",
    "description": "Every error: a stable snake-case `code`, a message for people, and details "
    "(the fields that failed validation, for example). The Segment routes add "
    '`"success": false`.',
    "required": ["code", "message", "details"],
    "properties": {
        "code": {"type": "string", "examples": ["invalid_request", "not_found"]},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {}},
    },
    "examples": [
        {
            "code": "invalid_request",
            "message": "name: String should have at least 1 character",
            "details": [{"field": "name", "message": "String should have at least 1 character"}],
        }
    ],
}

SECURITY_SCHEMES = {
    "WorkspaceApiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A workspace API key (`pgk_...`): every /api/v1 route, scoped to its "
        "workspace. Created with `POST /admin/workspaces/{workspace}/api-keys` or "
        "`pulsegate apikey create`.",
    },
    "AdminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's token (PULSEGATE_ADMIN_TOKEN, or the one printed at "
        "first start): every /admin route.",
    },
}

_ERRORS = {
    "400": "The request is not valid: `invalid_request` names each field (no 422 is sent)",
    "401": "No credentials, or not valid ones (`missing_token`, `invalid_api_key`, "
    "`invalid_admin_token`)",
    "404": "Nothing of that id in this workspace (`not_found`)",
    "503": "The database is unavailable (`database_unavailable`); retry later",
}


def error_responses(**by_status: str) -> dict[int | str, dict[str, Any]]:
    """A route's own error answers for its decorator's `responses`, in the error envelope:
    `error_responses(conflict="...")`. The ones every route shares are added to the document
    by `with_errors_and_security`."""
    statuses = {"forbidden": 403, "conflict": 409, "too_large": 413, "upstream": 502}
    return {statuses[name]: _error_response(text) for name, text in by_status.items()}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def with_errors_and_security(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Error"] = ERROR
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            scheme = (
                "WorkspaceApiKey"
                if path.startswith("/api/v1")
                else "AdminToken"
                if path.startswith("/admin")
                else None
            )
            if scheme is not None:
                operation["security"] = [{scheme: []}]
                responses.setdefault("401", _error_response(_ERRORS["401"]))
            if operation.get("parameters") or "requestBody" in operation:
                responses.setdefault("400", _error_response(_ERRORS["400"]))
            if "{" in path:
                responses.setdefault("404", _error_response(_ERRORS["404"]))
            if scheme is not None:
                responses.setdefault("503", _error_response(_ERRORS["503"]))
    return spec


# The parameters many routes share, described once; a route's own description wins.
PARAMETERS = {
    ("account_id", "path"): "The account's id: the `groupId` its group calls carry",
    ("account_id", "query"): "Only those of this account (its `groupId`)",
    ("anonymous_id", "query"): "Only messages with this `anonymousId`",
    ("connector_id", "path"): "The connector's id",
    ("cursor", "query"): "Where the page starts: the previous page's `next_cursor`",
    ("delivery_id", "path"): "The delivery's id",
    ("destination_id", "path"): "The destination's id",
    ("erasure_id", "path"): "The erasure's id",
    ("format", "query"): "`json` (the default) or `csv`",
    ("from", "query"): "First day, inclusive (ISO date)",
    ("to", "query"): "Last day, inclusive (ISO date)",
    ("id_hash", "path"): "The suppressed id's hash, as listed",
    ("key", "path"): "The custom metric's key",
    ("key_id", "path"): "The API key's id (as listed, never its secret)",
    ("kind", "query"): "Only issues of this kind: `unmatched` or `invalid`",
    ("limit", "query"): "At most this many items",
    ("name", "path"): "The job's name",
    ("object", "query"): "Only fields of `account` or `user`",
    ("rejected_id", "path"): "The refused message's id",
    ("rule_id", "path"): "The rule's id",
    ("run_id", "path"): "The run's id",
    ("since", "query"): "From this time, inclusive (ISO 8601)",
    ("until", "query"): "Before this time (ISO 8601)",
    ("source", "path"): "The source's name or id",
    ("source_id", "query"): "Only messages of this source",
    ("status", "query"): "Only deliveries in this status",
    ("type", "query"): "Only this type of call",
    ("user_id", "path"): "The user's id: the `userId` their calls carry",
    ("user_id", "query"): "Only those of this user (their `userId`)",
    ("workspace", "path"): "The workspace's name or id",
    ("workspace", "query"): "Only actions on this workspace (name or id)",
    ("write_key", "path"): "A source's write key",
}


def with_parameter_descriptions(spec: dict[str, Any]) -> dict[str, Any]:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                described = PARAMETERS.get((parameter["name"], parameter["in"]))
                if described and not parameter.get("description"):
                    parameter["description"] = described
    return spec
