"""The projector as a background task of `pulsegate serve`."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import is_unavailable
from pulsegate.projection import service
from pulsegate.projection.watermark import Watermark
from pulsegate.settings import Settings

log = structlog.get_logger(__name__)


class Projector:
    """Applies new inbound messages continuously.

    After a round that emptied the log it waits `idle_interval` seconds, so a message is
    projected well within a second of its acknowledgement; only while it is behind (a round
    filled a whole batch) does it go straight on. Waiting after a partial round is what makes
    it cheap under steady traffic: a round's cost is mostly per batch (a dozen statements,
    each planned and executed, and a commit), so rounds of a few messages each, back to back,
    cost PostgreSQL several times the CPU of one round of a fifth of a second's messages.
    When the database is away it waits and tries again; no message is lost, only delayed.
    Any number of projectors (in `serve` and `worker` processes, on any replicas) share the
    workspaces between them: see `service.project_pending`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_size: int = service.BATCH_SIZE,
        idle_interval: float = 0.2,
    ) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._idle_interval = idle_interval
        self._task: asyncio.Task[None] | None = None
        self._watermark = Watermark()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="projector")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                applied = await service.project_pending(
                    self._engine, self._watermark, batch_size=self._batch_size
                )
            except Exception as error:
                if not is_unavailable(error):
                    log.exception("projection.run.failed")
                applied = 0
                await asyncio.sleep(max(self._idle_interval, 1.0))
            if applied < self._batch_size:
                await asyncio.sleep(self._idle_interval)


async def start_projector(engine: AsyncEngine, settings: Settings) -> Projector | None:
    """The process's projector, started, or None where settings say this process does not
    project (PULSEGATE_PROJECTOR_ENABLED)."""
    if not settings.projector_enabled:
        return None
    projector = Projector(engine, idle_interval=settings.projector_interval_ms / 1000)
    await projector.start()
    return projector
