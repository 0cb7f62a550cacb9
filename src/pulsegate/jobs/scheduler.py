"""Scheduled work (docs/operations.md, "Jobs"), registered in one place.

`build_runner` names every job; the scheduler, `POST /admin/jobs/{name}/runs` and
`pulsegate jobs run NAME` all run them through its `JobRunner` (jobs/runner.py), which holds
each job's advisory lock and records every run in `job_runs`.

Every process's triggers fire at the same instants: intervals count from one fixed start
(midnight UTC, 2000-01-01) and crons are wall-clock times. A scheduled run is recorded with
the trigger time it belongs to, so of several replicas firing together exactly one runs it.
`coalesce` folds runs missed while a process was busy into one; a run later than its grace
time is dropped, since the next one does the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.connectors.sync import ConnectorSync
from pulsegate.db.engine import unit_of_work
from pulsegate.destinations.outbox import Outbox
from pulsegate.health_scores import service as health_scores_service
from pulsegate.jobs import repository
from pulsegate.jobs.runner import Job, JobObserver, JobRunner
from pulsegate.privacy import service as privacy_service
from pulsegate.reverse_sync.service import ReverseSync
from pulsegate.security import SecretBox
from pulsegate.sessions import sweep as sessions
from pulsegate.settings import Settings
from pulsegate.storage import retention as storage_retention

log = structlog.get_logger(__name__)

# A nightly reverse sync waits out the rate budget when Freshsales asks for at most this long.
REVERSE_SYNC_MAX_WAIT_SECONDS = 120
# The nightly chain, in order: fresh CRM values, then scores from them, then scores pushed back.
NIGHTLY_STEPS = ("connector_sync", "health_scores", "reverse_sync")
INTERVALS_START = datetime(2000, 1, 1, tzinfo=UTC)
RETENTION_CRON = "30 4 * * *"


class NightlyStepsFailed(RuntimeError):
    pass


def build_runner(
    engine: AsyncEngine,
    settings: Settings,
    secret_box: SecretBox,
    observer: JobObserver | None = None,
) -> JobRunner:
    """Every job by name, in a runner: what the scheduler, the admin API and the CLI run."""
    outbox = Outbox(engine, secret_box)
    pushes = ReverseSync(engine, secret_box, max_wait=REVERSE_SYNC_MAX_WAIT_SECONDS)
    pulls = ConnectorSync(engine, secret_box, timezone=settings.timezone)
    archive_store = storage_retention.store_for(settings)
    work: dict[str, Job] = {}
    runner = JobRunner(engine, work, observer or JobObserver())

    async def outbox_delivery() -> object:
        return await outbox.deliver_due()

    async def session_sweep() -> object:
        return await sessions.sweep(engine, rules=settings.session_rules)

    async def connector_sync() -> object:
        return await pulls.run_all(trigger="schedule")

    async def health_scores() -> object:
        return await health_scores_service.score_all(
            engine, timezone=settings.timezone, now=runner.clock()
        )

    async def reverse_sync() -> object:
        return await pushes.run_all(trigger="schedule")

    async def nightly() -> object:
        """Each step is a run of its own; a step running elsewhere (say, started by hand) is
        skipped, and a failed step does not stop the next."""
        steps: dict[str, str] = {}
        for step in NIGHTLY_STEPS:
            run = await runner.run(step, trigger="nightly")
            steps[step] = "skipped" if run is None else run.status
        failed = [step for step, status in steps.items() if status == "failed"]
        if failed:
            raise NightlyStepsFailed(f"failed steps: {', '.join(failed)}; steps: {steps}")
        return steps

    async def retention() -> object:
        now = runner.clock()
        before = now - timedelta(days=settings.job_runs_retention_days)
        async with unit_of_work(engine) as session:
            pruned = await repository.prune_runs(session, before=before)
        done = await storage_retention.run(engine, settings, archive_store, now=now)
        return {"job_runs_deleted": pruned, **done}

    async def erasures() -> object:
        return await privacy_service.run_pending(engine, store=archive_store, secret_box=secret_box)

    work.update(
        erasures=erasures,
        outbox_delivery=outbox_delivery,
        session_sweep=session_sweep,
        nightly=nightly,
        connector_sync=connector_sync,
        health_scores=health_scores,
        reverse_sync=reverse_sync,
        retention=retention,
    )
    return runner


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab line; a sixth, leading field gives seconds (for tests and demos)."""
    fields = expression.split()
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone=timezone,
        )
    return CronTrigger.from_crontab(expression, timezone=timezone)


def latest_fire_time(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's last fire time at or before `now` (within `lookback`): the trigger time
    a run starting now belongs to, the same in every process."""
    fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
    if fire is None or fire > now:
        return None
    while (following := trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))) and (
        following <= now
    ):
        fire = following
    return fire


@dataclass(frozen=True, slots=True)
class Schedule:
    trigger: BaseTrigger
    grace_seconds: int  # a run later than this after its trigger time is dropped
    description: str


def schedules(settings: Settings) -> dict[str, Schedule]:
    """Each periodic job's schedule. The steps of `nightly` have none of their own."""

    def every(seconds: int) -> Schedule:
        trigger = IntervalTrigger(seconds=seconds, start_date=INTERVALS_START)
        return Schedule(trigger, seconds, f"every {seconds} s")

    def cron(expression: str, grace: int) -> Schedule:
        trigger = cron_trigger(expression, settings.timezone)
        return Schedule(trigger, grace, f"cron {expression} ({settings.timezone})")

    # Nightly, a run an hour late still beats none until tomorrow.
    return {
        "outbox_delivery": every(settings.outbox_interval_seconds),
        # Erasures start when requested; this picks up what a stopped process left.
        "erasures": every(60),
        "session_sweep": every(settings.session_sweep_seconds),
        "nightly": cron(settings.nightly_cron, 3600),
        "retention": cron(RETENTION_CRON, 3600),
    }


def schedule(runner: JobRunner, settings: Settings) -> AsyncIOScheduler:
    """The scheduler with every periodic job."""
    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    for name, planned in schedules(settings).items():
        scheduler.add_job(
            _scheduled_run,
            planned.trigger,
            args=[runner, name, planned],
            id=name,
            name=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=planned.grace_seconds,
        )
    return scheduler


async def stop_jobs(scheduler: AsyncIOScheduler | None, runner: JobRunner, *, grace: float) -> None:
    """Start nothing more, let the runs in progress finish for up to `grace` seconds, then
    cancel the rest (recorded as interrupted, and picked up by the next run).

    The scheduler is paused, not shut down, while its runs finish: APScheduler's asyncio
    executor cancels the runs it started when it shuts down, which left a scheduled run no
    grace at all (and logged each as an error)."""
    if scheduler is not None:
        scheduler.pause()
    await runner.drain(grace=grace)
    if scheduler is not None:
        scheduler.shutdown(wait=False)


async def _scheduled_run(runner: JobRunner, name: str, planned: Schedule) -> None:
    lookback = timedelta(seconds=planned.grace_seconds)
    slot = latest_fire_time(planned.trigger, runner.clock(), lookback)
    await runner.run(name, trigger="schedule", scheduled_for=slot)
