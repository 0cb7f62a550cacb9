"""Running a job: under its advisory lock, recorded in `job_runs` from start to end.

Every run, scheduled or manual, goes through `JobRunner`:

1. it takes the job's advisory lock, so one replica at a time runs the job (a run that finds
   the lock taken is skipped: the job is running elsewhere);
2. it marks runs left `running` by a process that died as interrupted (every live run holds
   the lock, so a run still marked running under it has no process left);
3. it inserts the run. A scheduled run carries the trigger time it belongs to, unique per
   job: when two replicas fire the same trigger one after the other (the first finished
   before the second looked at the lock), the second finds the row and skips;
4. it runs the job and records the end: succeeded with the job's counts, failed with the
   error, or interrupted when shutdown cancelled it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import advisory_lock, unit_of_work
from pulsegate.db.models import JobRun
from pulsegate.errors import NotFound, PulsegateError
from pulsegate.jobs import repository

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[object]]
Clock = Callable[[], datetime]
# A job's result (a dataclass or model of counts) as JSON for `job_runs.counts`.
_AS_JSON: TypeAdapter[Any] = TypeAdapter(Any)
HOST = f"{socket.gethostname()}:{os.getpid()}"


def job_lock_id(name: str) -> int:
    """A stable 32-bit advisory lock key per job name (the projector's is its own)."""
    return zlib.crc32(f"pulsegate-job:{name}".encode())


class JobRunning(PulsegateError):
    status_code = 409
    code = "job_running"


class JobObserver:
    """What a run reports when it ends (the Prometheus metrics implement it)."""

    def job_finished(self, job: str, status: str, seconds: float) -> None:
        return None


# A scheduled run that did nothing (the outbox every few seconds with nothing due) is recorded
# as `idle` and kept this long, so that `job_runs` holds the runs that did work or failed and
# does not grow while the gateway is quiet; /metrics counts every run, idle ones included.
IDLE_RUNS_KEPT = timedelta(minutes=10)


def did_nothing(counts: Any) -> bool:
    """Whether a job's result reports no work: nothing but zeros in it (a run's record, a
    step's status or any other text counts as something done)."""
    if counts is None or isinstance(counts, bool):
        return True
    if isinstance(counts, int | float):
        return counts == 0
    if isinstance(counts, dict):
        return all(did_nothing(value) for value in counts.values())
    if isinstance(counts, list):
        return all(did_nothing(value) for value in counts)
    return False


@dataclass
class JobRunner:
    engine: AsyncEngine
    jobs: dict[str, Job]
    observer: JobObserver = field(default_factory=JobObserver)
    clock: Clock = field(default=lambda: datetime.now(UTC))
    _active: set[asyncio.Task[Any]] = field(default_factory=set)
    _triggers: dict[int, str] = field(default_factory=dict)  # of the runs in progress

    def job(self, name: str) -> Job:
        if name not in self.jobs:
            raise NotFound(f"no job {name!r}; jobs: {', '.join(self.jobs)}", code="job_not_found")
        return self.jobs[name]

    async def run(
        self, name: str, *, trigger: str, scheduled_for: datetime | None = None
    ) -> JobRun | None:
        """Run in the foreground; None when it runs elsewhere or this trigger was taken."""
        self.job(name)
        claimed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        return await self._run(name, trigger, scheduled_for, claimed)

    async def start(self, name: str, *, trigger: str) -> JobRun:
        """Start a run in the background and return it once claimed (status `running`).

        Raises JobRunning when the job runs elsewhere.
        """
        self.job(name)
        claimed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._run(name, trigger, None, claimed))
        run_id = await claimed
        if run_id is None:
            await task
            raise JobRunning(f"{name} is running; try again when it ends")
        async with unit_of_work(self.engine) as session:
            run = await repository.get_run(session, run_id)
        assert run is not None
        return run

    async def drain(self, *, grace: float) -> None:
        """Let runs in progress finish for up to `grace` seconds, then cancel the rest (which
        records them as interrupted)."""
        if self._active:
            log.info("jobs.draining", runs=len(self._active), grace_seconds=grace)
        await finish_or_cancel(self._active, grace=grace)

    async def _run(
        self,
        name: str,
        trigger: str,
        scheduled_for: datetime | None,
        claimed: asyncio.Future[int | None],
    ) -> JobRun | None:
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        try:
            async with advisory_lock(self.engine, job_lock_id(name)) as taken:
                run_id = await self._claim(name, trigger, scheduled_for) if taken else None
                claimed.set_result(run_id)
                if run_id is None:
                    log.debug("job.skipped", job=name, scheduled_for=scheduled_for)
                    return None
                with structlog.contextvars.bound_contextvars(job=name, job_run=run_id):
                    return await self._execute(name, run_id)
        finally:
            if not claimed.done():  # the lock or the claim failed
                claimed.set_result(None)
            self._active.discard(task)

    async def _claim(self, name: str, trigger: str, scheduled_for: datetime | None) -> int | None:
        run_id = await self._claim_run(name, trigger, scheduled_for)
        if run_id is not None:
            self._triggers[run_id] = trigger
        return run_id

    async def _claim_run(
        self, name: str, trigger: str, scheduled_for: datetime | None
    ) -> int | None:
        async with unit_of_work(self.engine) as session:
            abandoned = await repository.interrupt_abandoned(session, name, now=self.clock())
            if abandoned:
                log.warning("job.abandoned_runs_interrupted", job=name, runs=abandoned)
            return await repository.claim_run(
                session,
                job=name,
                trigger=trigger,
                scheduled_for=scheduled_for,
                host=HOST,
                now=self.clock(),
            )

    async def _execute(self, name: str, run_id: int) -> JobRun:
        started = time.monotonic()
        log.debug("job.started")
        try:
            result = await self.jobs[name]()
        except asyncio.CancelledError:
            ending = self._finish(
                name, run_id, started, "interrupted", error="cancelled by shutdown"
            )
            await asyncio.shield(ending)
            raise
        except Exception as error:
            log.exception("job.failed")
            return await self._finish(
                name, run_id, started, "failed", error=f"{type(error).__name__}: {error}"
            )
        counts = _AS_JSON.dump_python(result, mode="json")
        trigger = self._triggers.pop(run_id, None)
        status = "idle" if trigger == "schedule" and did_nothing(counts) else "succeeded"
        return await self._finish(name, run_id, started, status, counts=counts)

    async def _finish(
        self, name: str, run_id: int, started: float, status: str, **outcome: Any
    ) -> JobRun:
        seconds = time.monotonic() - started
        async with unit_of_work(self.engine) as session:
            run = await repository.finish_run(
                session, run_id, status=status, now=self.clock(), **outcome
            )
            if status == "idle":
                await repository.prune_idle_runs(
                    session, name, before=self.clock() - IDLE_RUNS_KEPT
                )
        self.observer.job_finished(name, status, seconds)
        # A scheduled run that found nothing to do says so at DEBUG: no chatter while idle.
        (log.debug if status == "idle" else log.info)(
            "job.finished", status=status, duration_ms=round(seconds * 1000)
        )
        return run


async def finish_or_cancel(tasks: set[asyncio.Task[Any]], *, grace: float) -> None:
    """Wait up to `grace` seconds for `tasks` to end, then cancel those still running."""
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
