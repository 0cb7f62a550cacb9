"""The events read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal["track", "page", "screen"]


class EventOut(BaseModel):
    """A track, page or screen call as an event: the feature (`name`) and module, attributed to a
    user and an account."""

    model_config = ConfigDict(from_attributes=True)

    message_id: str
    type: str
    timestamp: datetime
    account_id: str | None = Field(description="Its groupId, else its user's current account")
    user_id: str | None = Field(description="Its userId, else the user its anonymousId became")
    anonymous_id: str | None
    name: str | None
    module: str | None
    category: str | None
    properties: dict[str, Any]


class EventPage(BaseModel):
    """A page of events, in time order. Pass `next_cursor` as `cursor` to get the next page; it is
    null on the last one."""

    items: list[EventOut]
    next_cursor: str | None
