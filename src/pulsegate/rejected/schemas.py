"""Refused messages as the REST API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class RejectedOut(BaseModel):
    """A refused message: the reasons, and the bytes that were sent."""

    id: int
    received_at: datetime
    endpoint: str
    message_id: str | None
    batch_index: int | None = Field(description="Its position in the batch it came in")
    reasons: list[dict[str, Any]]
    body: str = Field(description="The refused bytes, as UTF-8 (invalid bytes replaced)")
    body_truncated: bool
    replayed_at: datetime | None


class RejectedPage(BaseModel):
    """A page of refused messages, newest first. Pass `next_cursor` as `cursor` to get the next
    page; it is null on the last one."""

    items: list[RejectedOut]
    next_cursor: str | None


class ReplayOut(BaseModel):
    """What a replay of a refused message gave: stored, or refused again with today's reasons."""

    replayed: bool
    rejected: list[dict[str, Any]] = Field(
        default_factory=list, description="Items of a replayed batch that are still refused"
    )
