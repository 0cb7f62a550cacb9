"""Opaque cursors for list endpoints: `{"items": [...], "next_cursor": ...}`."""

from __future__ import annotations

import base64
from datetime import datetime

from pulsegate.errors import InvalidRequest


def encode_cursor(moment: datetime, row_id: int) -> str:
    raw = f"{moment.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        moment, row_id = base64.urlsafe_b64decode(padded).decode().split("|")
        return datetime.fromisoformat(moment), int(row_id)
    except ValueError as error:
        raise InvalidRequest(
            "the cursor is not one this API gave out", code="invalid_cursor"
        ) from error


def encode_id_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


def decode_id_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return int(base64.urlsafe_b64decode(padded).decode())
    except ValueError as error:
        raise InvalidRequest(
            "the cursor is not one this API gave out", code="invalid_cursor"
        ) from error
