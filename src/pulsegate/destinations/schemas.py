"""The destinations API: Freshsales accounts to forward to, and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MessageType = Literal["identify", "group", "track", "page"]
DeliveryStatus = Literal["pending", "sent", "rejected", "skipped", "dead"]
OtherEvents = Literal["reject", "skip", "sales_activity"]


class EventMapping(BaseModel):
    """A track event's name (matched ignoring case) and what it becomes in Freshsales."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1, description="A track event, any case")
    to: Literal["sales_activity", "lifecycle_stage"]


class DestinationIn(BaseModel):
    """A Freshsales account to forward to, and what to forward."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "freshsales",
                    "name": "crm",
                    "domain": "acme.myfreshworks.com",
                    "api_key": "your-freshsales-api-key",
                    "message_types": ["identify", "group", "track"],
                    "event_mappings": [{"from": "Demo Booked", "to": "sales_activity"}],
                    "other_events": "skip",
                }
            ]
        },
    )

    kind: Literal["freshsales"]
    name: str = Field(min_length=1, max_length=200)
    domain: str = Field(
        min_length=1, description="The account's host; a scheme and a trailing slash are fine"
    )
    # Sent as an HTTP header, which holds visible ASCII only.
    api_key: str = Field(
        min_length=1,
        pattern=r"^[\x21-\x7e]+$",
        description="Write-only: stored encrypted, never returned",
    )
    message_types: list[MessageType] = Field(
        ["identify", "group", "track"],
        description="`page` records each page view as a sales activity of `activity_type`",
    )
    event_mappings: list[EventMapping] = []
    other_events: OtherEvents = Field(
        "reject",
        description="Track events with no mapping: reject them with RudderStack's reason, "
        "skip them, or record each as a sales activity of `activity_type`",
    )
    activity_type: str | None = Field(
        None, min_length=1, description="The sales activity type (its name in Freshsales)"
    )
    activity_owner_id: int | None = Field(
        None, description="Owner of recorded activities when the contact has none"
    )
    per_minute: int = Field(400, ge=1, description="The plan's request limit per minute")
    per_hour: int = Field(1000, ge=1, description="The plan's request limit per hour")
    retry_hours: float = Field(4.0, gt=0, le=168, description="Retry for this long, then dead")


class DestinationOut(BaseModel):
    """A Freshsales destination; its API key is stored encrypted and never shown."""

    id: uuid.UUID
    kind: str
    name: str
    domain: str
    api_base: str
    message_types: list[str]
    event_mappings: list[EventMapping]
    other_events: OtherEvents
    activity_type: str | None
    activity_owner_id: int | None
    per_minute: int
    per_hour: int
    retry_hours: float
    enabled: bool
    api_key_set: bool = True


class DestinationList(BaseModel):
    """The workspace's destinations."""

    items: list[DestinationOut]


class DeliveryOut(BaseModel):
    """One forwarded message's delivery to Freshsales and where it stands."""

    id: int
    message_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class DeliveryPage(BaseModel):
    """A page of deliveries, newest first. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[DeliveryOut]
    next_cursor: str | None
