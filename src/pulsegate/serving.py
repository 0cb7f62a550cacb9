"""How `pulsegate serve` runs its processes: HTTP, and beside it the background work.

`serve` runs N HTTP processes (uvicorn) and one `pulsegate worker` process for the projector and
the scheduler, supervised here: restarted after a crash, stopped at the end, and told its
parent's pid so that it stops by itself when `serve` is killed.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import structlog

from pulsegate.settings import Settings

log = structlog.get_logger(__name__)

# Container objects allocated, net, between two passes over the youngest generation (Python's
# default is 700): see `settle_garbage_collector`.
GC_YOUNG_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once a process has started (HTTP or background), take what it built out of the cyclic
    garbage collector's way.

    What start-up built (modules, models, routes) lives as long as the process: frozen, the
    collector's full passes no longer walk it (they did every few thousand requests). And its
    youngest generation is collected every 10,000 allocations instead of 700: a request or a
    sweep allocates many short-lived objects, freed by reference counting, and the passes
    that a low threshold triggers over the ones still alive (a sweep's batch of keys and
    events) took a third of a session sweep's Python time (bench/README.md). Cyclic garbage
    waits a little longer; none of it is large.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """SIGTERM's handler in `serve`: uvicorn, once it has shut down gracefully, raises the
    signal again to the handler it found, and this one unwinds through the `finally` blocks
    that stop the background process, then exits 0."""
    raise SystemExit(0)


def serve_with_background_process(settings: Settings, workers: int, common: dict[str, Any]) -> None:
    """N HTTP processes that run no background work, and one `pulsegate worker` process for
    the projector and the scheduler (docs/operations.md, "Processes"): jobs run once, not once
    per HTTP process.

    It is how `serve` runs by default, with one HTTP process (`PULSEGATE_BACKGROUND_PROCESS`):
    projection and jobs (a session sweep sessionizes thousands of events in Python) then
    neither take CPU from the process that answers ingest nor stall its event loop.

    The processes count metrics into files under DATA_DIR/prometheus, which every HTTP
    process's /metrics sums (prometheus-client's multiprocess mode). The background process
    is stopped after the HTTP processes, with time to finish its runs.
    """
    import shutil

    import uvicorn

    assert settings.database_url is not None
    metrics_dir = settings.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    shared = {
        "PULSEGATE_DATABASE_URL": settings.database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir.resolve()),
    }
    with _background_process(settings, env={**os.environ, **shared}):
        # The HTTP processes build their own app from the environment.
        os.environ.update(
            shared, PULSEGATE_SCHEDULER_ENABLED="false", PULSEGATE_PROJECTOR_ENABLED="false"
        )
        uvicorn.run("pulsegate.app:create_app", factory=True, workers=workers, **common)


@contextlib.contextmanager
def _background_process(settings: Settings, *, env: dict[str, str]) -> Iterator[None]:
    """A `pulsegate worker` process for as long as the block runs.

    One that ends with an error is started again a second later; one that ends cleanly
    (Ctrl-C reaches the whole process group) is not. At the end of the block it is stopped
    as any worker is: its batch in progress commits or rolls back whole, its jobs get the
    shutdown grace.
    """
    stopping = threading.Event()
    running: list[subprocess.Popen[bytes]] = []

    def supervise() -> None:
        while not stopping.is_set():
            process = subprocess.Popen(
                [sys.executable, "-m", "pulsegate", "worker", "--parent-pid", str(os.getpid())],
                env=env,
            )
            running[:] = [process]
            while process.poll() is None:
                if stopping.wait(0.5):
                    return
            if process.returncode == 0:
                return
            log.error("worker.process.exited", returncode=process.returncode)
            stopping.wait(1.0)

    supervisor = threading.Thread(target=supervise, name="background-process", daemon=True)
    supervisor.start()
    try:
        yield
    finally:
        stopping.set()
        supervisor.join()
        for process in running:
            process.terminate()
            try:
                process.wait(settings.shutdown_grace_seconds + 10)
            except subprocess.TimeoutExpired:
                process.kill()
