"""The hot log as the REST API shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

MessageType = Literal["track", "identify", "group", "page", "screen", "alias"]


class ProjectedEvent(BaseModel):
    """The event a track, page or screen call became, as attributed now."""

    name: str | None
    module: str | None
    category: str | None
    session_key: str | None
    resolved_user_id: str | None
    resolved_account_id: str | None


class Projection(BaseModel):
    """What the projector made of a message: its state, notes and the event it became."""

    state: Literal["pending", "applied", "failed"] = Field(
        description="pending: the projector has not reached it yet"
    )
    error: str | None = Field(default=None, description="Why it failed, when it did")
    notes: list[dict[str, str]] = Field(
        description="What of it was not applied, and why (code and message)"
    )
    event: ProjectedEvent | None = Field(
        default=None, description="The event a track, page or screen call became"
    )


class MessageOut(BaseModel):
    """A stored message as normalised, with its warnings and what the projector made of it."""

    id: int
    source_id: uuid.UUID
    message_id: str
    type: str
    received_at: datetime
    timestamp: datetime = Field(description="The event time, corrected for the sender's clock")
    message: dict[str, Any] = Field(description="The message as stored (normalised)")
    warnings: list[dict[str, Any]] = Field(description="Fields later processing skips")
    projection: Projection


class MessagePage(BaseModel):
    """A page of stored messages, newest first. Pass `next_cursor` as `cursor` to get the next page;
    it is null on the last one."""

    items: list[MessageOut]
    next_cursor: str | None = Field(
        description="Where to go on; a page may hold fewer items than asked for (each reads "
        "a bounded stretch of the log), so page on until this is null"
    )
