"""Workspaces and what authenticates to them: sources (write keys), API keys, admin tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base, utc_now


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())
    # Retention overrides for this workspace's plan, in days; None: the global setting
    # (pulsegate.storage.retention).
    log_retention_days: Mapped[int | None] = mapped_column(Integer)
    events_retention_days: Mapped[int | None] = mapped_column(Integer)
    refused_retention_days: Mapped[int | None] = mapped_column(Integer)
    deliveries_retention_days: Mapped[int | None] = mapped_column(Integer)


class Source(Base):
    """A sender of Segment traffic, identified by its write key (semi-public)."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Encrypted (not hashed): verifying an HMAC needs the secret itself.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    allowed_origins: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class ApiKey(Base):
    """A secret, server-side key that authorises the REST API for one workspace."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class AdminToken(Base):
    """An operator token, created at first start unless PULSEGATE_ADMIN_TOKEN is set."""

    __tablename__ = "admin_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())
