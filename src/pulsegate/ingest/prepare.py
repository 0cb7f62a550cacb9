"""The checks every message passes before it enters the log, whichever door it came through.

Two steps, both pure (no I/O), used by the Segment routes and the REST writes alike:
- `parse_body`: the request's bytes as JSON, refused when they are not JSON, nest too deep or
  hold a number no column can store;
- `prepare_message`: one message normalised and validated (Segment's rules, the message size
  limit, NUL characters, the standard traits' types), as a row for the log or the reasons it
  is refused.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from pulsegate.errors import InvalidRequest
from pulsegate.ingest import schemas
from pulsegate.ingest.body import MAX_NESTING, nesting_fits
from pulsegate.ingest.normalize import normalize
from pulsegate.ingest.repository import InboundRow
from pulsegate.ingest.traits import check_traits

# PostgreSQL's jsonb cannot hold U+0000; find the escape but not an escaped backslash before "u".
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")

Reason = dict[str, str]


class UnparsableBody(InvalidRequest):
    """The body is not JSON we can store; `code` says why."""


def parse_body(raw: bytes) -> Any:
    """The body as JSON, or `UnparsableBody` (`invalid_json`, `invalid_value` for a number
    beyond a double's range, `nesting_too_deep`)."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        if "number is infinity" in str(error):
            raise UnparsableBody(
                f"a number is beyond the range of a double: {error}", code="invalid_value"
            ) from error
        raise UnparsableBody(f"the body is not valid JSON: {error}", code="invalid_json") from error
    if not nesting_fits(parsed, raw):
        raise UnparsableBody(
            f"the body is nested more than about {MAX_NESTING} levels deep",
            code="nesting_too_deep",
        )
    return parsed


@dataclass(slots=True)  # not frozen: built per request (see InboundRow)
class Arrival:
    """Where and how a request's messages arrived: what every message of it shares."""

    workspace_id: uuid.UUID
    source_id: uuid.UUID
    received_at: datetime
    client_ip: str | None
    call_type: str | None  # the type a single-call path implies (it wins over the body's)
    root: dict[str, Any] | None  # the batch whose fields its messages inherit
    max_message_bytes: int
    # Checks that need a serialisation run only when the body says they might fail: no
    # message of a body under the message limit can be over it, and no message can hold a
    # NUL escape the body does not.
    check_size: bool
    may_hold_nul: bool


def prepare_message(item: Any, arrival: Arrival) -> tuple[InboundRow | None, list[Reason]]:
    """Normalise and validate one message: a row to store, or the reasons it is refused."""
    if not isinstance(item, dict):
        return None, [reason("", "invalid_message", "each message must be a JSON object")]
    limit = arrival.max_message_bytes
    if arrival.check_size and len(orjson.dumps(item)) > limit:
        return None, [reason("", "message_too_large", f"a message may be at most {limit:,} bytes")]
    normalized = normalize(
        item, received_at=arrival.received_at, batch_root=arrival.root, client_ip=arrival.client_ip
    )
    message = normalized.message
    if arrival.call_type is not None:
        message["type"] = arrival.call_type
    model, errors = schemas.validate_message(message)
    if model is None:
        return None, errors
    schemas.normalize_ids(message)
    warnings = normalized.warnings + check_traits(model.type, message.get("traits"))
    if arrival.may_hold_nul and NUL_ESCAPE.search(orjson.dumps(message)) is not None:
        return None, [
            reason("", "nul_character", "strings may not contain the NUL character (\\u0000)")
        ]
    return InboundRow(
        workspace_id=arrival.workspace_id,
        source_id=arrival.source_id,
        message_id=model.messageId,
        type=model.type,
        received_at=arrival.received_at,
        timestamp=normalized.timestamp,
        message=message,
        warnings=warnings or None,
    ), []


def may_hold_nul(raw: bytes) -> bool:
    """Whether some string of the body may hold a NUL character (a cheap test of the bytes)."""
    return b"\\u0000" in raw and NUL_ESCAPE.search(raw) is not None


def reason(field: str, code: str, message: str) -> Reason:
    return {"field": field, "code": code, "message": message}
