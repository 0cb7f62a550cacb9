"""Request and response models of the admin API for tenants and their credentials.

Our own API forbids unknown fields, so a typo is a 400 `invalid_request`, not a silently
ignored setting.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceCreate(Strict):
    """A new workspace, by a unique name."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "acme"}]})

    name: Name


class WorkspaceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime


class Retention(Strict):
    """A workspace's own retention, in whole UTC days; null: the gateway's setting
    (`PULSEGATE_<NAME>_RETENTION_DAYS`). See pulsegate.storage.retention."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"log_days": 60, "events_days": 730}]}
    )

    # The hot log and sent deliveries keep at least 8 days: a delivery is retried for up to
    # a week, and reads its message from the log.
    log_days: int | None = Field(default=None, ge=8, le=36500)
    events_days: int | None = Field(default=None, ge=1, le=36500)
    refused_days: int | None = Field(default=None, ge=1, le=36500)
    deliveries_days: int | None = Field(default=None, ge=8, le=36500)


class SourceCreate(Strict):
    """A new source; a webhook secret makes /v1/webhook check Segment's signature."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "web", "allowed_origins": ["https://app.acme.com"]},
                {"name": "segment-webhooks", "webhook_secret": "the shared secret"},
            ]
        }
    )

    name: Name
    webhook_secret: Annotated[str, Field(min_length=8)] | None = None
    allowed_origins: list[Annotated[str, Field(min_length=1)]] | None = None


class SourceCreated(BaseModel):
    """The new source. Its write key is shown this once and stored only as a hash."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    write_key: str = Field(description="Shown this once; only a hash is stored.")
    webhook_secret_set: bool
    allowed_origins: list[str]
    enabled: bool


class ApiKeyCreate(Strict):
    """A new workspace API key, named for what uses it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "billing-service"}]})

    name: Name = "default"


class ApiKeyCreated(BaseModel):
    """The new API key. Its secret is shown this once and stored only as a hash."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown this once; only a hash is stored.")


RateLimit = Annotated[int, Field(ge=1, le=1_000_000, description="Messages a second")]


class WorkspaceUpdate(Strict):
    """The default rate limit of its sources (messages a second); null: the global setting."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"rate_limit_per_second": 500}]}
    )

    rate_limit_per_second: RateLimit | None = Field(
        default=None,
        description="Each source's limit unless it sets its own; null: the gateway's "
        "PULSEGATE_SOURCE_RATE_LIMIT",
    )


class WorkspaceDetail(WorkspaceOut):
    """A workspace."""

    rate_limit_per_second: int | None


class WorkspacePage(BaseModel):
    """A page of workspaces, by name. Pass `next_cursor` as `cursor` to get the next page; it is
    null on the last one."""

    items: list[WorkspaceDetail]
    next_cursor: str | None = None


class SourceOut(BaseModel):
    """A source, without its write key."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    enabled: bool
    webhook_secret_set: bool
    allowed_origins: list[str]
    rate_limit_per_second: int | None
    previous_key_expires_at: datetime | None = Field(
        description="While set and in the future, the key replaced by the last rotation works"
    )
    created_at: datetime


class SourcePage(BaseModel):
    """A page of the workspace's sources. Pass `next_cursor` as `cursor` to get the next page; it is
    null on the last one."""

    items: list[SourceOut]
    next_cursor: str | None = None


class SourceUpdate(Strict):
    """Only the fields sent change; `rate_limit_per_second: null` returns to the workspace's."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"enabled": False}, {"rate_limit_per_second": 100}]},
    )

    enabled: bool | None = None
    rate_limit_per_second: RateLimit | None = None


class Rotation(Strict):
    """How long the replaced key keeps working."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"grace_seconds": 3600}]}
    )

    grace_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the replaced key keeps working (0: it stops at once)",
    )


class WriteKeyRotated(BaseModel):
    """The new write key of a rotation; the replaced one works until `previous_key_expires_at`."""

    source: SourceOut
    write_key: str = Field(description="Shown this once; only a hash is stored.")
    previous_key_expires_at: datetime | None


class ApiKeyOut(BaseModel):
    """A workspace API key, without its secret."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    active: bool


class ApiKeyPage(BaseModel):
    """A page of the workspace's API keys. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[ApiKeyOut]
    next_cursor: str | None = None


class ApiKeyRotated(ApiKeyCreated):
    """The new API key of a rotation; the replaced one works until `previous_key_expires_at`."""

    previous_key_expires_at: datetime | None


class AuditEntryOut(BaseModel):
    """One administrative action: who (`actor`), what, on what, when. Never a secret or personal
    data."""

    id: int
    at: datetime
    actor: str
    workspace_id: uuid.UUID | None
    action: str
    target: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of audit-log entries, newest first. Pass `next_cursor` as `cursor` to get the next
    page; it is null on the last one."""

    items: list[AuditEntryOut]
    next_cursor: str | None


class Offboarded(BaseModel):
    """An offboarded workspace and the rows deleted per table."""

    id: uuid.UUID
    name: str
    deleted: dict[str, int] = Field(description="Rows deleted per table (archive: objects)")
