"""Writes from backends go through the log, like everything else.

`PUT /accounts/{id}` and `PUT /users/{id}` become a group or identify call appended to
`inbound_messages` by the group-commit writer, so the log stays the one source of truth:
`pulsegate replay` reproduces them, and the projector applies them with the same per-field
rules. They are answered once the message is durable; the projector applies it within a second.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from pulsegate.accounts.schemas import Accepted, AccountIn, UserIn
from pulsegate.errors import InvalidRequest
from pulsegate.ingest.normalize import format_timestamp
from pulsegate.ingest.repository import InboundRow
from pulsegate.ingest.service import NUL_ESCAPE
from pulsegate.ingest.writer import GroupCommitWriter

# Messages written by the REST API carry this as their source and anonymousId.
API_SOURCE = uuid.UUID("00000000-0000-0000-0000-00000000a91a")
API_ACTOR = "pulsegate-api"


def _traits(body: AccountIn | UserIn, renames: dict[str, str]) -> dict[str, Any]:
    """The fields that were sent (`null` included: it clears), as traits."""
    given = body.model_dump(exclude_unset=True)
    custom = given.pop("custom", {})
    return {**custom, **{renames.get(name, name): value for name, value in given.items()}}


async def _append(
    writer: GroupCommitWriter, workspace_id: uuid.UUID, message: dict[str, Any]
) -> Accepted:
    now = datetime.now(UTC)
    message_id = f"api-{uuid.uuid4()}"
    stamp = format_timestamp(now)
    message = {
        **message, "messageId": message_id, "anonymousId": API_ACTOR,
        "timestamp": stamp, "receivedAt": stamp, "context": {"library": {"name": "pulsegate-api"}},
    }  # fmt: skip
    _check_storable(message)
    row = InboundRow(
        workspace_id=workspace_id, source_id=API_SOURCE, message_id=message_id,
        type=message["type"], received_at=now, timestamp=now, message=message, warnings=None,
    )  # fmt: skip
    await writer.write([row], [])
    return Accepted(message_id=message_id)


def _check_storable(message: dict[str, Any]) -> None:
    """Refuse what PostgreSQL or the log's encoder cannot hold, before it reaches the writer:
    one unstorable row would fail the whole group commit, its neighbours' messages with it.
    (Segment messages get the same checks in ingest.)"""
    try:
        encoded = orjson.dumps(message)
    except orjson.JSONEncodeError as error:  # integers beyond 64 bits
        raise InvalidRequest(f"a value cannot be stored: {error}", code="invalid_value") from error
    if NUL_ESCAPE.search(encoded) is not None:
        raise InvalidRequest("strings may not contain NUL (\\u0000)", code="invalid_value")


async def upsert_account(
    writer: GroupCommitWriter, workspace_id: uuid.UUID, account_id: str, body: AccountIn
) -> Accepted:
    traits = _traits(body, {"created_at": "createdAt"})
    message = {"type": "group", "groupId": account_id, "traits": traits}
    return await _append(writer, workspace_id, message)


async def upsert_user(
    writer: GroupCommitWriter, workspace_id: uuid.UUID, user_id: str, body: UserIn
) -> Accepted:
    message = {"type": "identify", "userId": user_id, "traits": _traits(body, {})}
    return await _append(writer, workspace_id, message)
