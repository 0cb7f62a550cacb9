"""Scheduled jobs run under an advisory lock named after them: one replica at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from apscheduler.triggers.interval import IntervalTrigger

from pulsegate.db.engine import create_engine
from pulsegate.jobs.scheduler import build_scheduler, run_exclusive
from pulsegate.security import SecretBox
from pulsegate.settings import Settings
from tests.conftest import SECRET_KEY


async def test_a_job_running_elsewhere_is_skipped_then_runs_once_free(settings: Settings) -> None:
    engine = create_engine(settings.async_database_url)
    ran: list[str] = []
    inside, release = asyncio.Event(), asyncio.Event()

    async def long_run() -> None:
        ran.append("first")
        inside.set()
        await release.wait()

    async def second_run() -> None:
        ran.append("second")

    try:
        first = asyncio.create_task(run_exclusive(engine, "session_sweep", long_run))
        await inside.wait()
        assert await run_exclusive(engine, "session_sweep", second_run) is False
        assert await run_exclusive(engine, "another_job", second_run) is True  # its own lock
        release.set()
        assert await first is True
        assert await run_exclusive(engine, "session_sweep", second_run) is True
    finally:
        await engine.dispose()
    assert ran == ["first", "second", "second"]


async def test_the_session_sweep_is_registered_every_minute(settings: Settings) -> None:
    engine = create_engine(settings.async_database_url)
    try:
        scheduler = build_scheduler(engine, settings, SecretBox(SECRET_KEY))
        job = scheduler.get_job("session_sweep")
        assert isinstance(job.trigger, IntervalTrigger)
        assert job.trigger.interval == timedelta(minutes=1)
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.args[1] == "session_sweep"
    finally:
        await engine.dispose()
