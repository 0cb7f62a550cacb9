"""Scheduled jobs run under an advisory lock named after them: one replica at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
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


@pytest.mark.parametrize("name", ["connector_sync", "reverse_sync"])
async def test_nightly_jobs_are_registered_in_the_configured_zone(
    settings: Settings, name: str
) -> None:
    nightly = settings.model_copy(update={"nightly_cron": "30 3 * * *", "timezone": "Europe/Paris"})
    engine = create_engine(settings.async_database_url)
    try:
        job = build_scheduler(engine, nightly, SecretBox(SECRET_KEY)).get_job(name)
        assert isinstance(job.trigger, CronTrigger)
        fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 22, 12, tzinfo=UTC))
        assert fire == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 03:30 in Paris, UTC+1
        assert (job.coalesce, job.max_instances, job.args[1]) == (True, 1, name)
    finally:
        await engine.dispose()
