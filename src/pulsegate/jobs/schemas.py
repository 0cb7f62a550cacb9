"""Response models of the admin jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobRunOut(BaseModel):
    """One run of a job: trigger, times, status, counts and error."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    job: str
    trigger: str = Field(
        description="schedule, nightly (a step of the nightly chain), manual or cli"
    )
    scheduled_for: datetime | None = Field(
        description="The trigger time a scheduled run belongs to; null for other runs"
    )
    status: str = Field(
        description="running, succeeded, idle (a scheduled run that found nothing to do; "
        "kept ten minutes), failed or interrupted"
    )
    started_at: datetime
    finished_at: datetime | None
    counts: Any = Field(description="What the job did, as it reports it")
    error: str | None
    host: str = Field(description="hostname:pid of the process that ran it")


class JobOut(BaseModel):
    """A scheduled job: its schedule, next trigger and last run."""

    name: str
    schedule: str | None = Field(description="When it runs on its own; null for nightly steps")
    next_run_at: datetime | None
    last_run: JobRunOut | None


class JobList(BaseModel):
    """Every scheduled job."""

    items: list[JobOut]


class JobRunPage(BaseModel):
    """A page of a job's runs, newest first. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[JobRunOut]
    next_cursor: str | None
