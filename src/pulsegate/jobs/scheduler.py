"""Scheduled work (design §5), registered in one place.

Every job runs under a PostgreSQL advisory lock named after it, so with several replicas (or a
`serve` beside a `worker`) a run happens on one of them; the others find the lock taken and
skip that run. `coalesce` folds runs missed while a process was busy into one, and a run later
than its grace time is dropped: the next one does the same work.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.destinations.outbox import Outbox
from pulsegate.reverse_sync.service import Runner as ReverseSyncRunner
from pulsegate.security import SecretBox
from pulsegate.sessions import service as sessions_service
from pulsegate.settings import Settings

log = structlog.get_logger(__name__)

OUTBOX_INTERVAL_SECONDS = 3
# A nightly reverse sync waits out the rate budget when Freshsales asks for at most this long.
REVERSE_SYNC_MAX_WAIT_SECONDS = 120


def job_lock_id(name: str) -> int:
    """A stable 32-bit advisory lock key per job name (the projector's is its own)."""
    return zlib.crc32(f"pulsegate-job:{name}".encode())


async def run_exclusive(
    engine: AsyncEngine, name: str, work: Callable[[], Awaitable[object]]
) -> bool:
    """Run `work` while holding the job's advisory lock; return False when another holds it."""
    async with engine.connect() as connection:
        locked = await connection.exec_driver_sql(
            "SELECT pg_try_advisory_lock(%s)", (job_lock_id(name),)
        )
        await connection.commit()
        if not locked.scalar():
            log.debug("job.skipped", job=name, reason="running elsewhere")
            return False
        try:
            with structlog.contextvars.bound_contextvars(job=name):
                await work()
        finally:
            await connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (job_lock_id(name),))
            await connection.commit()
    return True


def build_scheduler(
    engine: AsyncEngine, settings: Settings, secret_box: SecretBox
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    rules = settings.session_rules
    outbox = Outbox(engine, secret_box)

    async def outbox_delivery() -> None:
        await outbox.deliver_due()

    scheduler.add_job(
        run_exclusive,
        "interval",
        seconds=OUTBOX_INTERVAL_SECONDS,
        args=[engine, "outbox_delivery", outbox_delivery],
        id="outbox_delivery",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=OUTBOX_INTERVAL_SECONDS,
    )

    async def session_sweep() -> None:
        await sessions_service.sweep(engine, rules=rules)

    scheduler.add_job(
        run_exclusive,
        "interval",
        minutes=1,
        args=[engine, "session_sweep", session_sweep],
        id="session_sweep",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=30,
    )

    # Nightly; the health-score issue puts it after the scores in one chain.
    reverse_sync_runner = ReverseSyncRunner(
        engine, secret_box, max_wait=REVERSE_SYNC_MAX_WAIT_SECONDS
    )

    async def reverse_sync() -> None:
        await reverse_sync_runner.run_all(trigger="schedule")

    scheduler.add_job(
        run_exclusive,
        CronTrigger.from_crontab(settings.nightly_cron, timezone=settings.timezone),
        args=[engine, "reverse_sync", reverse_sync],
        id="reverse_sync",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=3600,  # a run an hour late still beats none until tomorrow
    )
    return scheduler
