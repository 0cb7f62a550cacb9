"""What an operator checks: is the log applied, is the outbox moving, did the jobs run."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate import __version__
from pulsegate.jobs import repository as jobs_repository
from pulsegate.jobs.schemas import JobRunOut
from pulsegate.operations import repository
from pulsegate.operations.metrics import DatabaseSnapshot
from pulsegate.operations.schemas import (
    AdminHealth,
    ArchiveHealth,
    InboundHealth,
    JobHealth,
    OutboxHealth,
    RejectedHealth,
    StorageHealth,
)

# Past this, the projector is behind rather than busy.
LAG_WORTH_A_LOOK_SECONDS = 60


async def snapshot(session: AsyncSession, *, hot_days: int) -> DatabaseSnapshot:
    """What every scrape of /metrics reads: kept to cheap counts."""
    backlog, lag = await repository.backlog(session)
    deliveries = await repository.deliveries_by_status(session)
    return DatabaseSnapshot(
        backlog,
        lag,
        deliveries,
        await repository.rejected_total(session),
        await repository.table_sizes(session),
        await repository.archive_state(session, hot_days=hot_days),
    )


async def admin_health(
    session: AsyncSession,
    *,
    job_names: list[str],
    migration: str | None,
    writer_pending: int,
    hot_days: int,
) -> AdminHealth:
    counts = await snapshot(session, hot_days=hot_days)
    backlog, lag, deliveries = counts.backlog, counts.projector_lag_seconds, counts.deliveries
    by_reason = await repository.rejected_by_reason_last_day(session)
    latest = await jobs_repository.latest_runs(session)
    jobs = [
        JobHealth(
            name=name, last_run=JobRunOut.model_validate(latest[name]) if name in latest else None
        )
        for name in job_names
    ]
    problems = []
    if lag > LAG_WORTH_A_LOOK_SECONDS:
        problems.append(f"the projector is {lag:.0f} s behind ({backlog} messages)")
    if deliveries.get("dead"):
        problems.append(f"{deliveries['dead']} deliveries are dead (retry them by hand)")
    archive = counts.archive
    if archive.last_error is not None:
        problems.append(
            f"the archive of {archive.last_error_day} failed ({archive.days_waiting} days wait "
            f"in the database): {archive.last_error}"
        )
    problems += [
        f"the last run of {job.name} {job.last_run.status}"
        for job in jobs
        if job.last_run is not None and job.last_run.status in ("failed", "interrupted")
    ]
    return AdminHealth(
        status="attention" if problems else "ok",
        problems=problems,
        version=__version__,
        migration=migration,
        inbound=InboundHealth(
            backlog=backlog, projector_lag_seconds=round(lag, 3), writer_pending=writer_pending
        ),
        rejected=RejectedHealth(total=counts.rejected, last_24h_by_reason=by_reason),
        outbox=OutboxHealth(
            pending=deliveries.get("pending", 0),
            sent=deliveries.get("sent", 0),
            dead=deliveries.get("dead", 0),
        ),
        jobs=jobs,
        storage=StorageHealth(
            tables=counts.table_bytes,
            archive=ArchiveHealth(
                oldest_hot_day=archive.oldest_hot_day,
                days_waiting=archive.days_waiting,
                last_error=archive.last_error,
                last_error_day=archive.last_error_day,
                last_error_at=archive.last_error_at,
            ),
        ),
    )
