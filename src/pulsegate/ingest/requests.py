"""An ingest request as the service sees it, whatever door it came in by, and its messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pulsegate.errors import InvalidRequest, PayloadTooLarge
from pulsegate.ingest.paths import Kind


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_message_bytes: int
    max_batch_bytes: int
    max_batch_messages: int


@dataclass(slots=True)  # not frozen: built per request (see InboundRow)
class IngestRequest:
    """What the service needs of an HTTP request, without knowing HTTP."""

    endpoint: str
    kind: Kind
    call_type: str | None  # the type a single-call path implies (it wins over the body's)
    body: AsyncIterator[bytes]
    gzipped: bool
    authorization: str | None = None
    write_key_header: str | None = None
    write_key_query: str | None = None
    signature: str | None = None
    origin: str | None = None
    client_ip: str | None = None


@dataclass(slots=True)
class IngestOutcome:
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Set when the source restricts origins: the response echoes it with credentials allowed.
    allowed_origin: str | None = None


def messages_of(
    kind: Kind, payload: Any, limits: IngestLimits
) -> tuple[list[Any], dict[str, Any] | None]:
    """The messages of a parsed body, and the batch root whose fields they inherit.

    A refusal of the whole request (not a batch, too many messages, not an object) raises.
    """
    if kind == "batch":
        batch = payload.get("batch") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            raise InvalidRequest(
                'a batch body must be an object with a "batch" array', code="invalid_batch"
            )
        if len(batch) > limits.max_batch_messages:
            raise PayloadTooLarge(
                f"a batch may hold at most {limits.max_batch_messages:,} messages; "
                f"this one has {len(batch):,}",
                code="too_many_messages",
            )
        return batch, payload
    if kind == "webhook" and isinstance(payload, list):
        return payload, None
    if not isinstance(payload, dict):
        raise InvalidRequest("the body must be a JSON object", code="invalid_message")
    return [payload], None
