"""SQL of job runs: claiming a run, finishing it, and reading the latest ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import JobRun

INTERRUPTED = "the process running it stopped before it finished"


async def interrupt_abandoned(session: AsyncSession, job: str, *, now: datetime) -> int:
    """Mark the job's `running` runs interrupted. Called while holding the job's lock: every
    live run holds it, so a run still marked running belongs to a process that is gone."""
    result = await session.execute(
        update(JobRun)
        .where(JobRun.job == job, JobRun.status == "running")
        .values(status="interrupted", finished_at=now, error=INTERRUPTED)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def claim_run(
    session: AsyncSession,
    *,
    job: str,
    trigger: str,
    scheduled_for: datetime | None,
    host: str,
    now: datetime,
) -> int | None:
    """Insert the run; None when another replica already claimed this trigger time."""
    values: dict[str, Any] = {
        "job": job,
        "trigger": trigger,
        "scheduled_for": scheduled_for,
        "status": "running",
        "started_at": now,
        "host": host,
    }
    if scheduled_for is None:
        inserted = await session.execute(insert(JobRun).values(values).returning(JobRun.id))
        return int(inserted.scalar_one())
    claimed = await session.scalar(
        pg_insert(JobRun)
        .values(values)
        .on_conflict_do_nothing(constraint="uq_job_runs_job_scheduled_for")
        .returning(JobRun.id)
    )
    return None if claimed is None else int(claimed)


async def finish_run(
    session: AsyncSession,
    run_id: int,
    *,
    status: str,
    now: datetime,
    counts: Any = None,
    error: str | None = None,
) -> JobRun:
    run = await session.get_one(JobRun, run_id)
    run.status, run.finished_at, run.counts, run.error = status, now, counts, error
    await session.flush()
    return run


async def prune_idle_runs(session: AsyncSession, job: str, *, before: datetime) -> None:
    """Forget the job's idle runs that started before `before` (`ix_job_runs_job_started_at`)."""
    await session.execute(
        delete(JobRun).where(JobRun.job == job, JobRun.started_at < before, JobRun.status == "idle")
    )


async def get_run(session: AsyncSession, run_id: int) -> JobRun | None:
    return await session.get(JobRun, run_id)


async def latest_runs(session: AsyncSession) -> dict[str, JobRun]:
    """The last run of every job that has run."""
    latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    rows = await session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))
    return {run.job: run for run in rows}


async def list_runs(
    session: AsyncSession, *, job: str | None, before_id: int | None, limit: int
) -> list[JobRun]:
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if job is not None:
        query = query.where(JobRun.job == job)
    if before_id is not None:
        query = query.where(JobRun.id < before_id)
    return list(await session.scalars(query))


async def prune_runs(session: AsyncSession, *, before: datetime) -> int:
    """Delete finished runs that started before `before`."""
    result = await session.execute(
        delete(JobRun).where(JobRun.started_at < before, JobRun.status != "running")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
