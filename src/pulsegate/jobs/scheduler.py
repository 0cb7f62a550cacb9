"""Scheduled work (design §5), registered in one place.

Every job runs under a PostgreSQL advisory lock named after it, so with several replicas (or a
`serve` beside a `worker`) a run happens on one of them; the others find the lock taken and
skip that run. `coalesce` folds runs missed while a process was busy into one, and a run later
than its grace time is dropped: the next one does the same work.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.connectors.runner import Runner as ConnectorRunner
from pulsegate.db.engine import advisory_lock
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
    async with advisory_lock(engine, job_lock_id(name)) as taken:
        if not taken:
            log.debug("job.skipped", job=name, reason="running elsewhere")
            return False
        with structlog.contextvars.bound_contextvars(job=name):
            await work()
    return True


Job = Callable[[], Awaitable[object]]


def jobs(engine: AsyncEngine, settings: Settings, secret_box: SecretBox) -> dict[str, Job]:
    """Every job by name: what the scheduler runs, and what `pulsegate jobs run NAME` runs."""
    outbox = Outbox(engine, secret_box)
    reverse_sync_runner = ReverseSyncRunner(
        engine, secret_box, max_wait=REVERSE_SYNC_MAX_WAIT_SECONDS
    )
    connector_runner = ConnectorRunner(engine, secret_box, timezone=settings.timezone)

    async def outbox_delivery() -> object:
        return await outbox.deliver_due()

    async def session_sweep() -> object:
        return await sessions_service.sweep(engine, rules=settings.session_rules)

    async def connector_sync() -> object:
        return await connector_runner.run_all(trigger="schedule")

    async def reverse_sync() -> object:
        return await reverse_sync_runner.run_all(trigger="schedule")

    return {
        "outbox_delivery": outbox_delivery,
        "session_sweep": session_sweep,
        "connector_sync": connector_sync,
        "reverse_sync": reverse_sync,
    }


def build_scheduler(
    engine: AsyncEngine, settings: Settings, secret_box: SecretBox
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    work = jobs(engine, settings, secret_box)

    def add(name: str, trigger: Any, grace: int, **options: Any) -> None:
        scheduler.add_job(
            run_exclusive, trigger, args=[engine, name, work[name]], id=name, coalesce=True,
            max_instances=1, misfire_grace_time=grace, **options,
        )  # fmt: skip

    add("outbox_delivery", "interval", OUTBOX_INTERVAL_SECONDS, seconds=OUTBOX_INTERVAL_SECONDS)
    add("session_sweep", "interval", 30, minutes=1)
    # Nightly, a run an hour late still beats none until tomorrow. The health-score issue puts
    # them in one chain: connector sync, then scores, then reverse sync.
    nightly = CronTrigger.from_crontab(settings.nightly_cron, timezone=settings.timezone)
    add("connector_sync", nightly, 3600)
    add("reverse_sync", nightly, 3600)
    return scheduler
