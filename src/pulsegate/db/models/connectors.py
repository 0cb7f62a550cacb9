"""Connectors that pull fields from Freshsales or CSV files, their runs and issues."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base, utc_now


class Connector(Base):
    """A third-party source whose fields a workspace pulls into custom dimensions and metrics
    (pulsegate.connectors). `settings` hold the kind's options (a Freshsales domain and plan
    limits, a CSV path and object); `secret_encrypted` its API key; `state` what later runs
    start from (the `updated_at` watermark per object, the last full pull); `upload` the CSV
    file last uploaded."""

    __tablename__ = "connectors"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    match: Mapped[dict[str, Any]] = mapped_column(JSONB)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    upload: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class ConnectorRun(Base):
    """One run of a connector. `status`: running, succeeded or failed; `progress` is updated
    after every page while it runs."""

    __tablename__ = "connector_runs"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        ForeignKeyConstraint(
            ["workspace_id", "connector_id"],
            ["connectors.workspace_id", "connectors.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    connector_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    full: Mapped[bool] = mapped_column("full_pull", Boolean)  # `full` is an SQL keyword
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)


class ConnectorIssue(Base):
    """A record a run could not use, and why: `unmatched` (no pulsegate account or user) or
    `invalid` (a bad row, or a value that does not fit its field)."""

    __tablename__ = "connector_issues"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["connector_runs.workspace_id", "connector_runs.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    object: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
