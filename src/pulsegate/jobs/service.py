"""The jobs an operator sees: each with its schedule, next trigger time and last run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.errors import NotFound
from pulsegate.jobs import repository
from pulsegate.jobs.scheduler import Schedule
from pulsegate.jobs.schemas import JobList, JobOut, JobRunOut, JobRunPage

PAGE_SIZE = 100


async def list_jobs(
    session: AsyncSession, *, names: list[str], schedules: dict[str, Schedule], now: datetime
) -> JobList:
    latest = await repository.latest_runs(session)
    items = []
    for name in names:
        planned = schedules.get(name)
        last = latest.get(name)
        items.append(
            JobOut(
                name=name,
                schedule=planned.description if planned else None,
                next_run_at=planned.trigger.get_next_fire_time(None, now) if planned else None,
                last_run=JobRunOut.model_validate(last) if last else None,
            )
        )
    return JobList(items=items)


async def list_runs(
    session: AsyncSession, *, job: str, names: list[str], cursor: str | None, limit: int
) -> JobRunPage:
    if job not in names:
        raise NotFound(f"no job {job!r}", code="job_not_found")
    before = decode_id_cursor(cursor) if cursor else None
    runs = await repository.list_runs(session, job=job, before_id=before, limit=limit + 1)
    more = len(runs) > limit
    runs = runs[:limit]
    return JobRunPage(
        items=[JobRunOut.model_validate(run) for run in runs],
        next_cursor=encode_id_cursor(runs[-1].id) if more else None,
    )


async def get_run(session: AsyncSession, *, job: str, run_id: int) -> JobRunOut:
    run = await repository.get_run(session, run_id)
    if run is None or run.job != job:
        raise NotFound(f"no run {run_id} of {job!r}", code="job_run_not_found")
    return JobRunOut.model_validate(run)
