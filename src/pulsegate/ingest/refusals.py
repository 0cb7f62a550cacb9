"""What is kept of a refusal: the row of `rejected_messages`, and the answer's entry.

A refused message is kept with its raw bytes and its reasons (each `{field, code, message}`),
so that it can be read and replayed; a whole request refused before its messages could be
read is kept as one row with the bytes that were read.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson

from pulsegate.errors import PulsegateError
from pulsegate.ingest import schemas
from pulsegate.ingest.prepare import Reason, reason
from pulsegate.ingest.repository import RejectedRow


class RefusedRequest(PulsegateError):
    """A whole-request refusal that is kept (it wraps the error the client sees)."""

    def __init__(self, error: PulsegateError, *, raw: bytes, truncated: bool) -> None:
        super().__init__(error.message, code=error.code, details=error.details)
        self.status_code = error.status_code
        self.raw = raw
        self.truncated = truncated


def refused_request(
    refusal: RefusedRequest,
    *,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID | None,
    endpoint: str,
    received_at: datetime,
) -> RejectedRow:
    """The kept record of a whole request refused."""
    return RejectedRow(
        workspace_id=workspace_id,
        source_id=source_id,
        received_at=received_at,
        endpoint=endpoint,
        message_id=None,
        batch_index=None,
        raw_body=refusal.raw,
        body_truncated=refusal.truncated,
        reasons_json=reasons_json([reason("", refusal.code, refusal.message)]),
    )


def refused_message(
    item: Any,
    *,
    index: int,
    reasons: list[Reason],
    workspace_id: uuid.UUID,
    source_id: uuid.UUID | None,
    endpoint: str,
    received_at: datetime,
    in_batch: bool,
) -> tuple[RejectedRow, dict[str, Any]]:
    """The kept record of a refused message, and its entry in the response's `rejected`."""
    message_id = item.get("messageId") if isinstance(item, dict) else None
    message_id = str(message_id) if message_id is not None else None
    row = RejectedRow(
        workspace_id=workspace_id,
        source_id=source_id,
        received_at=received_at,
        endpoint=endpoint,
        message_id=message_id,
        batch_index=index if in_batch else None,
        raw_body=orjson.dumps(item),
        body_truncated=False,
        reasons_json=reasons_json(reasons),
    )
    summary = {
        "index": index,
        "messageId": message_id,
        "code": "invalid_message",
        "message": _summary(reasons),
        "details": reasons,
    }
    return row, summary


def type_label(item: Any, call_type: str | None) -> str:
    """A refused message's type as a metric label: the path's, or a known `type` field."""
    if call_type is not None:
        return call_type
    declared = item.get("type") if isinstance(item, dict) else None
    return declared if isinstance(declared, str) and declared in schemas.MODELS else "unknown"


def _summary(reasons: list[Reason]) -> str:
    first = reasons[0]
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"{where}{first['message']}{more}"


def reasons_json(reasons: list[Reason]) -> str:
    # Field names come from the client and may hold a NUL, which jsonb refuses.
    return orjson.dumps(reasons).decode().replace("\\u0000", "\\ufffd")
