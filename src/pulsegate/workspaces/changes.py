"""Changes to credentials and suppressions, told to every serving process at once.

Ingest caches what a write key resolves to (pulsegate.ingest.auth.SourceDirectory) and each
workspace's suppression list (pulsegate.privacy.suppression), so a request costs no lookup. A
change that must take effect at once (a revoked or rotated key, a disabled source, a new or
lifted suppression) sends a PostgreSQL NOTIFY in its own transaction; every process LISTENs on
a connection of its own and drops those caches when the notification arrives, which
PostgreSQL delivers only after the commit. When the listening connection is lost, the caches
are dropped again on reconnecting (notifications sent meanwhile are gone), and until then
expire by their time to live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import psycopg
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)

CHANNEL = "pulsegate_changes"


async def announce(session: AsyncSession) -> None:
    """Tell every process to drop its caches once the session's transaction commits."""
    await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class ChangeListener:
    """LISTENs for `announce()` and calls every `on_change` for each notification."""

    def __init__(self, database_url: str, on_change: Sequence[Callable[[], None]]) -> None:
        self._database_url = database_url
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def start(self, *, wait: float = 3.0) -> None:
        """Start listening; wait up to `wait` seconds for the LISTEN (not longer: a database
        away at start-up must not stop the gateway from starting)."""
        self._task = asyncio.create_task(self._run(), name="change-listener")
        try:
            await asyncio.wait_for(self.listening.wait(), timeout=wait)
        except TimeoutError:
            log.warning("changes.listen_delayed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _changed(self) -> None:
        for callback in self._on_change:
            callback()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._database_url, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self._changed()  # whatever was announced while we were not listening
                    self.listening.set()
                    delay = 0.5
                    async for _ in connection.notifies():
                        self._changed()
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("changes.listen_lost", error=str(error).splitlines()[0:1])
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
