"""Jobs run under an advisory lock named after them, once per trigger, and every run is
recorded in `job_runs` (the scheduler, the admin API and the CLI alike)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import create_engine
from pulsegate.jobs.runner import Job, JobObserver, JobRunner, job_lock_id
from pulsegate.jobs.scheduler import (
    NIGHTLY_STEPS,
    build_runner,
    latest_fire_time,
    schedule,
    schedules,
    stop_jobs,
)
from pulsegate.security import SecretBox
from pulsegate.settings import Settings
from tests.support.database import Rows
from tests.support.tenants import ADMIN_TOKEN, SECRET_KEY
from tests.support.waiting import eventually

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.async_database_url)
    yield engine
    await engine.dispose()


def runs_of(rows: Rows, job: str) -> list[dict[str, object]]:
    return rows.query(
        "SELECT id, trigger, scheduled_for, status, counts, error, host FROM job_runs "
        "WHERE job = %s ORDER BY id",
        job,
    )


async def test_a_job_running_elsewhere_is_skipped_and_every_run_is_recorded(
    engine: AsyncEngine, rows: Rows
) -> None:
    inside, release = asyncio.Event(), asyncio.Event()

    async def long_run() -> object:
        inside.set()
        await release.wait()
        return {"done": 1}

    async def short_run() -> object:
        return {"done": 2}

    long_runner = JobRunner(engine, {"test_lock": long_run})
    short_runner = JobRunner(engine, {"test_lock": short_run, "test_other": short_run})
    first = asyncio.create_task(long_runner.run("test_lock", trigger="cli"))
    await inside.wait()
    assert await short_runner.run("test_lock", trigger="cli") is None
    other = await short_runner.run("test_other", trigger="cli")  # a lock of its own
    assert other is not None
    assert other.status == "succeeded"
    release.set()
    assert (await first).status == "succeeded"  # type: ignore[union-attr]
    again = await short_runner.run("test_lock", trigger="cli")
    assert again is not None

    recorded = runs_of(rows, "test_lock")
    assert [(r["status"], r["counts"], r["trigger"]) for r in recorded] == [
        ("succeeded", {"done": 1}, "cli"),
        ("succeeded", {"done": 2}, "cli"),
    ]
    assert all(r["scheduled_for"] is None and ":" in str(r["host"]) for r in recorded)


async def test_a_trigger_time_runs_once_even_when_the_second_replica_comes_after(
    engine: AsyncEngine, settings: Settings, rows: Rows
) -> None:
    calls: list[str] = []

    def job(replica: str) -> Job:
        async def work() -> object:
            calls.append(replica)
            return None

        return work

    other_engine = create_engine(settings.async_database_url)  # a second process's pool
    try:
        replica_a = JobRunner(engine, {"test_slot": job("a")})
        replica_b = JobRunner(other_engine, {"test_slot": job("b")})
        slot = datetime(2026, 11, 22, 2, tzinfo=UTC)
        assert await replica_a.run("test_slot", trigger="schedule", scheduled_for=slot)
        assert await replica_b.run("test_slot", trigger="schedule", scheduled_for=slot) is None
        later = slot + timedelta(days=1)
        assert await replica_b.run("test_slot", trigger="schedule", scheduled_for=later)
    finally:
        await other_engine.dispose()
    assert calls == ["a", "b"]
    assert [r["scheduled_for"] for r in runs_of(rows, "test_slot")] == [slot, later]


async def test_a_scheduled_run_that_did_nothing_is_idle_and_kept_ten_minutes(
    engine: AsyncEngine, rows: Rows
) -> None:
    """job_runs keeps the runs that did work or failed: a quiet gateway's outbox, every few
    seconds, would otherwise add a row each time forever."""
    now = [datetime(2026, 11, 22, 2, tzinfo=UTC)]
    work = {"sent": 0, "retried": 0}

    async def outbox_like() -> object:
        return dict(work)

    finished: list[tuple[str, str]] = []

    class Observed(JobObserver):
        def job_finished(self, job: str, status: str, seconds: float) -> None:
            finished.append((job, status))

    runner = JobRunner(engine, {"test_idle": outbox_like}, Observed(), clock=lambda: now[0])
    for minute in range(15):  # a run a minute for a quarter of an hour, work in minute 3
        now[0] = datetime(2026, 11, 22, 2, minute, tzinfo=UTC)
        work["sent"] = 1 if minute == 3 else 0
        await runner.run("test_idle", trigger="schedule", scheduled_for=now[0])
    await runner.run("test_idle", trigger="manual")  # asked for: kept whatever it did

    kept = [(r["scheduled_for"], r["status"]) for r in runs_of(rows, "test_idle")]
    minute = lambda m: datetime(2026, 11, 22, 2, m, tzinfo=UTC)  # noqa: E731
    assert kept == [
        (minute(3), "succeeded"),
        *[(minute(m), "idle") for m in range(4, 15)],
        (None, "succeeded"),
    ]
    assert finished.count(("test_idle", "idle")) == 14  # every idle run is counted
    assert finished.count(("test_idle", "succeeded")) == 2


async def test_failures_are_recorded_with_their_error(engine: AsyncEngine, rows: Rows) -> None:
    async def broken() -> object:
        raise ValueError("the CRM said no")

    run = await JobRunner(engine, {"test_broken": broken}).run("test_broken", trigger="cli")
    assert run is not None
    assert (run.status, run.error) == ("failed", "ValueError: the CRM said no")
    [stored] = runs_of(rows, "test_broken")
    assert (stored["status"], stored["error"]) == ("failed", "ValueError: the CRM said no")


async def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(
    engine: AsyncEngine, database_url: str, rows: Rows
) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO job_runs (job, trigger, status, started_at, host) "
            "VALUES ('test_dead', 'schedule', 'running', now() - interval '1 hour', 'gone:1')"
        )

    async def work() -> object:
        return {"ok": True}

    await JobRunner(engine, {"test_dead": work}).run("test_dead", trigger="cli")
    recorded = runs_of(rows, "test_dead")
    assert [(r["host"], r["status"]) for r in recorded] == [
        ("gone:1", "interrupted"),
        (recorded[1]["host"], "succeeded"),
    ]
    assert recorded[0]["error"] == "the process running it stopped before it finished"


async def test_shutdown_lets_a_run_finish_then_cancels_what_overstays(
    engine: AsyncEngine, rows: Rows
) -> None:
    async def quick() -> object:
        await asyncio.sleep(0.2)
        return {"finished": True}

    async def endless() -> object:
        await asyncio.Event().wait()
        return None

    runner = JobRunner(engine, {"test_quick": quick, "test_endless": endless})
    await runner.start("test_quick", trigger="manual")
    await runner.start("test_endless", trigger="manual")
    await runner.drain(grace=1)
    assert [r["status"] for r in runs_of(rows, "test_quick")] == ["succeeded"]
    [endless_run] = runs_of(rows, "test_endless")
    assert (endless_run["status"], endless_run["error"]) == ("interrupted", "cancelled by shutdown")


async def test_a_stop_gives_a_scheduled_run_its_grace_too(engine: AsyncEngine, rows: Rows) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def in_progress() -> object:
        started.set()
        await release.wait()  # its work, still going on when the stop begins
        return {"processed": 1}

    runner = JobRunner(engine, {"test_scheduled": in_progress})
    scheduler = AsyncIOScheduler()
    # A date trigger without a date fires at once; the scheduler runs it as its own task.
    scheduler.add_job(runner.run, "date", args=["test_scheduled"], kwargs={"trigger": "schedule"})
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    stopping = asyncio.create_task(stop_jobs(scheduler, runner, grace=5))
    await eventually(lambda: scheduler.state, lambda state: state != STATE_RUNNING, what="a stop")
    assert not stopping.done()  # it waits for the run
    release.set()
    await stopping
    assert [r["status"] for r in runs_of(rows, "test_scheduled")] == ["succeeded"]


def test_every_process_fires_at_the_same_instants(settings: Settings) -> None:
    tuned = settings.model_copy(
        update={
            "nightly_cron": "30 3 * * *",
            "timezone": "Europe/Paris",
            "outbox_interval_seconds": 3,
            "session_sweep_seconds": 60,
        }
    )
    planned = schedules(tuned)
    assert set(planned) == {"outbox_delivery", "session_sweep", "nightly", "retention", "erasures"}
    now = datetime(2026, 11, 22, 12, 0, 7, 500_000, tzinfo=UTC)
    # Intervals count from one fixed start, not from when the process started.
    outbox = planned["outbox_delivery"].trigger
    assert latest_fire_time(outbox, now, timedelta(seconds=3)) == now.replace(
        second=6, microsecond=0
    )
    sweep = planned["session_sweep"].trigger
    assert latest_fire_time(sweep, now, timedelta(seconds=60)) == now.replace(
        second=0, microsecond=0
    )
    nightly = planned["nightly"]
    assert nightly.description == "cron 30 3 * * * (Europe/Paris)"
    fire = nightly.trigger.get_next_fire_time(None, now)
    assert fire == datetime(2026, 11, 23, 2, 30, tzinfo=UTC)  # 03:30 in Paris, UTC+1
    assert latest_fire_time(nightly.trigger, fire + timedelta(minutes=5), timedelta(hours=1)) == (
        fire
    )
    assert latest_fire_time(nightly.trigger, now, timedelta(hours=1)) is None  # none that recent
    seconds = schedules(tuned.model_copy(update={"nightly_cron": "*/10 * * * * *"}))["nightly"]
    assert latest_fire_time(seconds.trigger, now, timedelta(hours=1)) == now.replace(
        second=0, microsecond=0
    )


async def test_the_scheduler_registers_every_periodic_job(
    engine: AsyncEngine, settings: Settings
) -> None:
    runner = build_runner(engine, settings, SecretBox(SECRET_KEY))
    scheduler = schedule(runner, settings)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(schedules(settings))
    for name, job in jobs.items():
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time == schedules(settings)[name].grace_seconds
    assert set(runner.jobs) == {*jobs, *NIGHTLY_STEPS}


async def test_the_nightly_chain_runs_its_steps_in_order(
    engine: AsyncEngine, settings: Settings, rows: Rows
) -> None:
    runner = build_runner(engine, settings, SecretBox(SECRET_KEY))
    slot = datetime(2026, 11, 22, 2, tzinfo=UTC)
    nightly = await runner.run("nightly", trigger="schedule", scheduled_for=slot)
    assert nightly is not None
    steps = rows.query(
        "SELECT job, trigger, started_at, finished_at, status FROM job_runs "
        "WHERE trigger = 'nightly' AND started_at >= %s ORDER BY id",
        nightly.started_at,
    )
    assert [step["job"] for step in steps] == list(NIGHTLY_STEPS)
    for before, after in itertools.pairwise(steps):
        assert before["finished_at"] <= after["started_at"]  # type: ignore[operator]
    statuses = {step["job"]: step["status"] for step in steps}
    if "failed" in statuses.values():
        assert nightly.status == "failed"
        assert str(statuses) in str(nightly.error)
    else:
        assert (nightly.status, nightly.counts) == ("succeeded", statuses)


async def test_admin_runs_a_job_and_lists_every_job(
    client: httpx.AsyncClient, database_url: str
) -> None:
    started = await client.post("/admin/jobs/retention/runs", headers=ADMIN)
    assert started.status_code == 202, started.text
    run = started.json()
    assert (run["job"], run["trigger"], run["status"]) == ("retention", "manual", "running")
    for _ in range(100):
        current = (
            await client.get(f"/admin/jobs/retention/runs/{run['id']}", headers=ADMIN)
        ).json()
        if current["status"] != "running":
            break
        await asyncio.sleep(0.05)
    assert current["status"] == "succeeded"
    partitioned = ("inbound_messages", "message_ids", "rejected_messages", "deliveries", "events")
    assert set(current["counts"]) == {"job_runs_deleted", "archive", *partitioned}
    for table in partitioned:
        assert set(current["counts"][table]) == {
            "partitions_made",
            "partitions_dropped",
            "rows_trimmed",
        }
    assert current["counts"]["archive"]["days_failed"] == 0

    listed = (await client.get("/admin/jobs", headers=ADMIN)).json()["items"]
    by_name = {job["name"]: job for job in listed}
    assert set(by_name) == {
        "erasures",
        "outbox_delivery",
        "session_sweep",
        "nightly",
        "retention",
        *NIGHTLY_STEPS,
    }
    assert by_name["retention"]["last_run"]["id"] == run["id"]
    assert by_name["retention"]["schedule"] == "cron 30 4 * * * (UTC)"
    assert by_name["connector_sync"]["schedule"] is None
    assert by_name["outbox_delivery"]["next_run_at"] is not None
    history = (await client.get("/admin/jobs/retention/runs?limit=1", headers=ADMIN)).json()
    assert [item["id"] for item in history["items"]] == [run["id"]]

    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (job_lock_id("retention"),))
        busy = await client.post("/admin/jobs/retention/runs", headers=ADMIN)
    assert (busy.status_code, busy.json()["code"]) == (409, "job_running")
    unknown = await client.post("/admin/jobs/nope/runs", headers=ADMIN)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "job_not_found")
    assert (await client.get("/admin/jobs")).status_code == 401
