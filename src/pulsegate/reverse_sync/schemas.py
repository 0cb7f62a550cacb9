"""The reverse-sync API: rules, runs and what each run sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Target = Literal["contact", "sales_account"]
FIELD_NAME = r"^[a-z][a-z0-9_]*$"


class RuleIn(BaseModel):
    """A reverse-sync rule: a pulsegate value, the Freshsales field it fills, how records match."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "destination_id": "5b0a3c55-6a0e-4d38-9d8c-7d3c3f9e2a10",
                    "source": "custom_metric",
                    "key": "mrr",
                    "target": "sales_account",
                    "field": "cf_mrr",
                    "match_field": "cf_pulsegate_id",
                }
            ]
        },
    )

    destination_id: uuid.UUID
    source: str = Field(
        description="last_seen, sessions_30d, time_spent_seconds_30d, active_users_30d, "
        "custom_dimension, custom_metric (and health_score once scores exist)"
    )
    key: str | None = Field(None, description="The custom field a custom_* source reads")
    target: Target = Field(description="contact (from users) or sales_account (from accounts)")
    field: str = Field(pattern=FIELD_NAME, description="A standard field, or a cf_* custom one")
    match_field: str | None = Field(
        None,
        pattern=FIELD_NAME,
        description="sales_account: `name` (default) or a cf_* field holding pulsegate's "
        "account id; contact: always `emails`",
    )


class RuleOut(BaseModel):
    """A reverse-sync rule."""

    id: uuid.UUID
    destination_id: uuid.UUID
    source: str
    key: str | None
    target: Target
    field: str
    match_field: str
    created_at: datetime


class RuleList(BaseModel):
    """The workspace's reverse-sync rules."""

    items: list[RuleOut]


class RunCounts(BaseModel):
    """What a reverse-sync run did with the values it considered."""

    considered: int = Field(0, description="Values read for a record that could be matched")
    unchanged: int = Field(0, description="Values equal to the last pushed: not sent")
    unmatched: int = Field(
        0,
        description="Values of accounts without a name, users without "
        "an email: nothing to match in Freshsales",
    )
    sent: int = Field(0, description="Values written")
    requests: int = Field(0, description="Write requests made")
    failed: int = Field(
        0, description="Values Freshsales refused or could not take: sent again next run"
    )
    deferred: int = Field(0, description="Values left for the next run: the rate budget ran out")


class RunOut(BaseModel):
    """A reverse-sync run: trigger, times, status, counts and error."""

    id: int
    trigger: str
    status: Literal["running", "succeeded", "incomplete", "failed"]
    started_at: datetime
    finished_at: datetime | None
    counts: RunCounts
    error: str | None


class RunList(BaseModel):
    """The latest reverse-sync runs, newest first."""

    items: list[RunOut]


class ItemOut(BaseModel):
    """One write of a reverse-sync run to a Freshsales record, and Freshsales's answer."""

    id: int
    destination_id: uuid.UUID
    target: Target
    entity_id: str = Field(description="The pulsegate account or user id")
    unique_identifier: dict[str, Any]
    fields: dict[str, Any]
    status: Literal["sent", "failed"]
    error: str | None
    at: datetime


class ItemPage(BaseModel):
    """A page of a reverse-sync run's writes. Pass `next_cursor` as `cursor` to get the next page;
    it is null on the last one."""

    items: list[ItemOut]
    next_cursor: str | None
