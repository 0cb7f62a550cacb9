"""Workspaces and what authenticates to them: sources (write keys), API keys, admin tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
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
    # Messages a second each of its sources may send, unless the source sets its own; None:
    # PULSEGATE_SOURCE_RATE_LIMIT (pulsegate.ingest.rate_limit).
    rate_limit_per_second: Mapped[int | None] = mapped_column(Integer)


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
    # After a rotation, the replaced key keeps working until it expires (the grace period).
    previous_write_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_write_key_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rate_limit_per_second: Mapped[int | None] = mapped_column(Integer)
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
    # Set on the replaced key by a rotation (the end of its grace period); a revoked key is
    # refused at once.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AdminToken(Base):
    """An operator token, created at first start unless PULSEGATE_ADMIN_TOKEN is set."""

    __tablename__ = "admin_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class AuditEntry(Base):
    """An administrative action: who did what to which workspace, and when.

    Global, with no foreign key: the record of a workspace's offboarding outlives it. Holds no
    secret and no personal data (an erasure names its subject by a hash).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace", "workspace_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())
    actor: Mapped[str] = mapped_column(Text)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class RateWindow(Base):
    """Messages a source sent in one second, summed over every replica (unlogged: a count lost
    in a crash only lets a second through unthrottled)."""

    __tablename__ = "rate_windows"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "source_id", "second"),
        {"prefixes": ["UNLOGGED"]},
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    source_id: Mapped[uuid.UUID] = mapped_column(UUID)
    second: Mapped[int] = mapped_column(BigInteger)  # Unix time, whole seconds
    messages: Mapped[int] = mapped_column(BigInteger)
