"""Request and response models of the admin API for tenants and their credentials.

Our own API forbids unknown fields, so a typo is a 400 `invalid_request`, not a silently
ignored setting.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "acme"}]})

    name: Name


class WorkspaceOut(BaseModel):
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
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    write_key: str = Field(description="Shown this once; only a hash is stored.")
    webhook_secret_set: bool
    allowed_origins: list[str]
    enabled: bool


class ApiKeyCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "billing-service"}]})

    name: Name = "default"


class ApiKeyCreated(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown this once; only a hash is stored.")
