"""Runs of the scheduled jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base


class JobRun(Base):
    """One run of a scheduled job (pulsegate.jobs). `trigger`: schedule, nightly (a step of the
    nightly chain), manual (the admin API) or cli; `scheduled_for` is the trigger time a
    scheduled run belongs to, unique per job so that replicas firing together run it once.
    `status`: running, succeeded, idle (a scheduled run that did nothing, kept ten minutes),
    failed, or interrupted (its process stopped first)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "scheduled_for"),
        Index("ix_job_runs_job_started_at", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[Any] = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)  # hostname:pid of the process that ran it
