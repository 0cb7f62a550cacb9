"""Writes from backends go through the log, like everything else, by the same door.

`PUT /accounts/{id}` and `PUT /users/{id}` stand for a group or identify call. Their body is
handed to `IngestService.write_for_api`, which reads and parses it as a Segment call's, has
it turned into that call here, and prepares and stores the call as any other: the same size
and nesting limits, normalisation, NUL, number and trait checks, and a refusal kept in
`rejected_messages` with the codes a Segment call would get. The log stays the one source of
truth: `pulsegate replay` reproduces these writes, and the projector applies them with the
same per-field rules. They are answered once the message is durable.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pulsegate.accounts.schemas import Accepted, AccountIn, UserIn
from pulsegate.errors import InvalidRequest
from pulsegate.ingest.normalize import format_timestamp
from pulsegate.ingest.service import IngestService

# The anonymousId of every call the REST API writes.
API_ACTOR = "pulsegate-api"


def _traits(body: AccountIn | UserIn, renames: dict[str, str]) -> dict[str, Any]:
    """The fields that were sent (`null` included: it clears), as traits."""
    given = body.model_dump(exclude_unset=True)
    custom = given.pop("custom", {})
    return {**custom, **{renames.get(name, name): value for name, value in given.items()}}


Model = TypeVar("Model", bound=BaseModel)


def _validated(model: type[Model], payload: Any) -> Model:
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        details = [
            {
                "field": ".".join(str(part) for part in ("body", *item["loc"])),
                "code": item["type"],
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        raise InvalidRequest("the request is not valid", details=details) from error


def _call(message_type: str, **ids: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def complete(fields: dict[str, Any]) -> dict[str, Any]:
        stamp = format_timestamp(datetime.now(UTC))
        return {
            "type": message_type,
            **ids,
            **fields,
            "messageId": f"api-{uuid.uuid4()}",
            "anonymousId": API_ACTOR,
            "timestamp": stamp,
            "context": {"library": {"name": "pulsegate-api"}},
        }

    return complete


async def upsert_account(
    ingest: IngestService, workspace_id: uuid.UUID, account_id: str, body: AsyncIterator[bytes]
) -> Accepted:
    group = _call("group", groupId=account_id)

    def call(payload: Any) -> dict[str, Any]:
        body = _validated(AccountIn, payload)
        return group({"traits": _traits(body, {"created_at": "createdAt"})})

    return await _write(ingest, workspace_id, f"/api/v1/accounts/{account_id}", body, call)


async def upsert_user(
    ingest: IngestService, workspace_id: uuid.UUID, user_id: str, body: AsyncIterator[bytes]
) -> Accepted:
    identify = _call("identify", userId=user_id)

    def call(payload: Any) -> dict[str, Any]:
        return identify({"traits": _traits(_validated(UserIn, payload), {})})

    return await _write(ingest, workspace_id, f"/api/v1/users/{user_id}", body, call)


async def _write(
    ingest: IngestService,
    workspace_id: uuid.UUID,
    endpoint: str,
    body: AsyncIterator[bytes],
    call: Callable[[Any], dict[str, Any]],
) -> Accepted:
    message_id = await ingest.write_for_api(workspace_id, endpoint=endpoint, body=body, call=call)
    return Accepted(message_id=message_id)
