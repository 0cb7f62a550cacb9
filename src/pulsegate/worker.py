"""`pulsegate worker`: the background work without HTTP.

The projector (unless PULSEGATE_PROJECTOR_ENABLED is false), and the scheduler's jobs
(pulsegate.jobs). `serve` runs one beside its HTTP process (PULSEGATE_BACKGROUND_PROCESS).
Any number of workers (and `serve` processes) may run against one database: their projectors
share the workspaces, each batch under the lock of its workspace, and a stopped worker's
workspaces go to the others.
"""

from __future__ import annotations

import asyncio
import os
import signal

import structlog

from pulsegate import __version__
from pulsegate.db.engine import create_engine
from pulsegate.jobs.scheduler import build_runner, schedule, stop_jobs
from pulsegate.operations.metrics import Metrics
from pulsegate.projection.projector import start_projector
from pulsegate.security import SecretBox, load_or_create_secret_key
from pulsegate.serving import settle_garbage_collector
from pulsegate.settings import Settings

log = structlog.get_logger(__name__)


async def run_worker(settings: Settings, *, parent_pid: int | None = None) -> None:
    """Run until SIGTERM or SIGINT, or until the process `parent_pid` is gone (a `serve`
    that was killed leaves no worker behind).

    A batch cut short by the stop is rolled back with its log position, so the next projector
    applies it again: nothing is lost or applied twice.
    """
    engine = create_engine(
        settings.async_database_url,
        pool_size=settings.database_pool_size,
        connect_timeout=settings.database_connect_timeout_seconds,
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    projector = await start_projector(engine, settings)
    secret_box = SecretBox(
        settings.secret_key.get_secret_value()
        if settings.secret_key
        else load_or_create_secret_key(settings.data_dir)
    )
    # Job metrics reach /metrics of the HTTP processes through the multiprocess files when
    # `serve --workers N` runs this worker; a standalone worker keeps them to itself.
    job_runner = build_runner(engine, settings, secret_box, observer=Metrics())
    scheduler = schedule(job_runner, settings) if settings.scheduler_enabled else None
    if scheduler is not None:
        scheduler.start()
    watch = (
        asyncio.create_task(_stop_without_parent(parent_pid, stopping))
        if parent_pid is not None
        else None
    )
    settle_garbage_collector()  # as the HTTP process does (pulsegate.app)
    log.info("worker.started", version=__version__)
    try:
        await stopping.wait()
    finally:
        if watch is not None:
            watch.cancel()
        await stop_jobs(scheduler, job_runner, grace=settings.shutdown_grace_seconds)
        if projector is not None:
            await projector.stop()
        await engine.dispose()
        log.info("worker.stopped")


async def _stop_without_parent(parent_pid: int, stopping: asyncio.Event) -> None:
    """Once the parent is gone, this process is re-parented: its parent id changes. Nothing
    signals that portably, so it is looked at every second."""
    while os.getppid() == parent_pid:  # noqa: ASYNC110
        await asyncio.sleep(1.0)
    log.warning("worker.parent_gone", parent_pid=parent_pid)
    stopping.set()
