"""Normalisation as Segment does it, before validation and storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

# The Python SDK sends these as JSON null; they mean "absent".
NULL_MEANS_ABSENT = ("userId", "anonymousId", "category", "name")


@dataclass(slots=True)  # not frozen: built per message (see ingest.repository.InboundRow)
class Normalized:
    message: dict[str, Any]
    timestamp: datetime  # the corrected event time
    warnings: list[dict[str, str]]


def normalize(
    item: dict[str, Any],
    *,
    received_at: datetime,
    batch_root: dict[str, Any] | None,
    client_ip: str | None,
) -> Normalized:
    """Return a normalised copy of `item` with the warnings found on the way.

    - `writeKey` is removed; null ids, `category` and `name` are dropped;
    - the batch root's `context` and `integrations` are merged in (the item's own keys win);
    - a missing `messageId` gets a UUID;
    - timestamps: the incoming `timestamp` becomes `originalTimestamp`, `receivedAt` is our
      clock, and `timestamp = receivedAt - (sentAt - originalTimestamp)` corrects the device's
      clock skew, with the item's `sentAt`, else the batch root's, else no correction;
    - `context.ip` is filled from the request when absent.
    """
    message = dict(item)
    message.pop("writeKey", None)
    for key in NULL_MEANS_ABSENT:
        if key in message and message[key] is None:
            del message[key]
    root = batch_root or {}
    for key in ("context", "integrations"):
        inherited = root.get(key)
        own = message.get(key)
        if isinstance(inherited, dict) and (own is None or isinstance(own, dict)):
            message[key] = {**inherited, **(own or {})}
    if message.get("messageId") is None:
        message["messageId"] = str(uuid.uuid4())

    warnings: list[dict[str, str]] = []
    corrected = _correct_timestamps(message, root, received_at, warnings)
    received_text = format_timestamp(received_at)
    message["receivedAt"] = received_text
    message["timestamp"] = (
        received_text if corrected == received_at else format_timestamp(corrected)
    )

    context = message.get("context")
    if client_ip and (context is None or (isinstance(context, dict) and "ip" not in context)):
        message["context"] = {**(context or {}), "ip": client_ip}
    return Normalized(message=message, timestamp=corrected, warnings=warnings)


def _correct_timestamps(
    message: dict[str, Any],
    root: dict[str, Any],
    received_at: datetime,
    warnings: list[dict[str, str]],
) -> datetime:
    original_raw = message.get("timestamp", message.get("originalTimestamp"))
    if original_raw is not None:
        message["originalTimestamp"] = original_raw
    original = _parse_or_warn(original_raw, "timestamp", warnings)
    sent_raw = message.get("sentAt", root.get("sentAt"))
    if sent_raw is not None:
        message["sentAt"] = sent_raw
    sent_at = _parse_or_warn(sent_raw, "sentAt", warnings)
    if original is None:
        return received_at
    if sent_at is None:
        return original
    try:
        return received_at - (sent_at - original)
    except OverflowError:
        warnings.append(
            {
                "field": "timestamp",
                "code": "invalid_timestamp",
                "message": "timestamp and sentAt are too far apart to correct; receivedAt used",
            }
        )
        return received_at


def _parse_or_warn(value: Any, field: str, warnings: list[dict[str, str]]) -> datetime | None:
    if value is None:
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        warnings.append(
            {
                "field": field,
                "code": "invalid_timestamp",
                "message": f"{field} is not an ISO-8601 date-time; it was not used",
            }
        )
    return parsed


def parse_timestamp(value: Any) -> datetime | None:
    """ISO-8601 in any of the forms SDKs send; a time without an offset is taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@lru_cache(maxsize=256)
def format_timestamp(moment: datetime) -> str:
    """`2015-12-12T19:11:01.249Z`: UTC, milliseconds, as Segment writes it.

    Cached: every message of a request shares its `receivedAt`, and batches repeat timestamps.
    """
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
