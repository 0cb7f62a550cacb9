"""The operator's view of the gateway (`GET /admin/health`)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from pulsegate.jobs.schemas import JobRunOut


class InboundHealth(BaseModel):
    """The log's backlog and how far the projector is behind."""

    backlog: int = Field(
        description="Stored messages the projector has not applied yet, counted up to 10,000 "
        "per workspace (a floor past that)"
    )
    projector_lag_seconds: float = Field(description="Age of the oldest of them (0: caught up)")
    writer_pending: int = Field(description="Messages of this process waiting for a commit")


class RejectedHealth(BaseModel):
    """Refused messages kept: all, and the last 24 hours by reason."""

    total: int = Field(description="Exact below 100,000, else PostgreSQL's row estimate")
    last_24h_by_reason: dict[str, int]


class OutboxHealth(BaseModel):
    """Deliveries to destinations by status."""

    pending: int
    sent: int = Field(description="Exact below 100,000 deliveries, else PostgreSQL's estimate")
    dead: int


class ArchiveHealth(BaseModel):
    """Where archiving the log stands: the oldest day still in the database and the last failure."""

    oldest_hot_day: date | None = Field(
        description="The first day of the log still in the database (UTC)"
    )
    days_waiting: int = Field(
        description="Days of the log past the hot window still in the database: the archive's "
        "lag (0 when each day is archived and dropped on time)"
    )
    last_error: str | None = Field(
        description="Why the newest attempt to archive a day still waiting failed"
    )
    last_error_day: date | None
    last_error_at: datetime | None


class StorageHealth(BaseModel):
    """Table sizes and the archive's state."""

    tables: dict[str, int] = Field(
        description="Bytes on disk of each table that grows with traffic or tenants, indexes "
        "and TOAST included"
    )
    archive: ArchiveHealth


class JobHealth(BaseModel):
    """A job and its last run."""

    name: str
    last_run: JobRunOut | None


class AdminHealth(BaseModel):
    """The operator's overview: `ok`, or `attention` with the problems that need it."""

    status: str = Field(description="ok, or attention when `problems` is not empty")
    problems: list[str]
    version: str
    migration: str | None
    inbound: InboundHealth
    rejected: RejectedHealth
    outbox: OutboxHealth
    jobs: list[JobHealth]
    storage: StorageHealth
