"""The group-commit writer: many concurrent requests, one transaction per flush.

An ingest request hands its rows to `write()` and waits. A background task takes what is
waiting (up to `max_messages`, after at most `max_delay` seconds), stores it in one transaction
and only then releases the waiting requests. So a 200 always follows a COMMIT, and durability
costs one fsync per flush rather than per request.

The wait is one turn of the event loop by default (`max_delay` 0): the writes of the requests
that were read together go in one flush, and the flush starts at once. A wait of a millisecond
(uvloop's timers count whole milliseconds, so 1 ms is 1-2) held each request that long at full
load, when every connection waits for its flush: single-event throughput was 15-20% lower for
the same CPU (bench/README.md, "The writer's wait").

The queue is shared fairly: besides its total bound, no workspace may hold more than
`workspace_share` of it, so one tenant's burst is answered 429 while the others are stored.

Up to `concurrency` flushes run at once, so the database inserts one batch while this process
validates the next; while all are busy, waiting writes pile up into a bigger next batch.

A flush of accepted messages only is one statement (it inserts the ids and the log rows
together), run in autocommit: the statement is its own transaction, and the flush costs one
round trip instead of three (BEGIN, the statement, COMMIT). A flush that also keeps refused
messages runs its two statements in one transaction. Flushes run on connections of the
writer's own, held open (`connections.py`), not on the engine's pool.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from pulsegate.db.engine import is_unavailable
from pulsegate.errors import PulsegateError, RateLimited, ServiceUnavailable, StorageFailed
from pulsegate.ingest import repository
from pulsegate.ingest.connections import Connection, WriterConnections
from pulsegate.ingest.repository import InboundRow, RejectedRow

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Pending:
    workspace_id: uuid.UUID | None
    inbound: Sequence[InboundRow]
    rejected: Sequence[RejectedRow]
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def size(self) -> int:
        return len(self.inbound) + len(self.rejected)


@dataclass(slots=True)
class _Batch:
    writes: list[_Pending]
    size: int  # messages, kept as writes are added


_STOP = object()


# A message whose id was stored within this long is not stored again (Segment promises 24 h).
DEDUP_WINDOW = timedelta(days=7)


class GroupCommitWriter:
    def __init__(
        self,
        database_url: str,
        *,
        connect_timeout: int = 3,
        max_messages: int = 500,
        max_delay: float = 0,
        max_pending: int = 50_000,
        workspace_share: float = 0.25,
        concurrency: int = 4,
        on_commit: Callable[[int], None] | None = None,
        dedup_window: timedelta = DEDUP_WINDOW,
    ) -> None:
        # `database_url` as libpq takes it (`Settings.libpq_database_url`).
        self._connections = WriterConnections(database_url, connect_timeout=connect_timeout)
        self._dedup_window = dedup_window
        # Told the number of messages (stored and refused) of every committed transaction.
        self._on_commit = on_commit
        self._concurrency = concurrency
        self._max_messages = max_messages
        self._max_delay = max_delay
        self._max_pending = max_pending
        # No workspace may hold more than this of the queue: a tenant's burst fills its own
        # share and gets 429, while the others' writes still find room.
        self._max_pending_per_workspace = max(max_messages, int(max_pending * workspace_share))
        self._pending_by_workspace: dict[uuid.UUID | None, int] = {}
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue()
        self._pending_messages = 0
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Refuse new writes and store everything already accepted, then end the task."""
        self._closing = True
        if self._task is not None:
            await self._queue.put(_STOP)
            await self._task
            self._task = None
        await self._connections.close()

    @property
    def pending_messages(self) -> int:
        return self._pending_messages

    async def write(self, inbound: Sequence[InboundRow], rejected: Sequence[RejectedRow]) -> None:
        """Store the rows durably (a duplicate message is skipped, not an error).

        Raises `ServiceUnavailable` when the database is unreachable or the writer is
        saturated, and `StorageFailed` when the transaction failed for another reason.
        """
        if self._closing or self._task is None:
            raise ServiceUnavailable("the gateway is shutting down", code="shutting_down")
        if not inbound and not rejected:  # every message suppressed, say
            return
        first = inbound[0] if inbound else rejected[0] if rejected else None
        pending = _Pending(first.workspace_id if first else None, inbound, rejected)
        if self._pending_messages + pending.size > self._max_pending:
            raise ServiceUnavailable(
                "too many messages are waiting to be stored; retry later",
                code="overloaded",
                retry_after=1,
            )
        held = self._pending_by_workspace.get(pending.workspace_id, 0)
        if held and held + pending.size > self._max_pending_per_workspace:
            now = time.time()
            raise RateLimited(
                "this workspace has too many messages waiting to be stored; retry later",
                retry_after=1,
                reset_at=int(now) + 1,
            )
        self._pending_messages += pending.size
        self._pending_by_workspace[pending.workspace_id] = held + pending.size
        self._queue.put_nowait(pending)
        # A request cancelled while it waits (its client went away) cancels only this
        # future: the flush still stores its rows, and settles the others.
        return await pending.done

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self._concurrency)
        in_flight: set[asyncio.Task[None]] = set()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Pending)
            batch = _Batch([first], first.size)
            stopping = self._take_waiting(batch)
            if not stopping and batch.size < self._max_messages:
                await asyncio.sleep(self._max_delay)  # 0: one turn of the loop
                stopping = self._take_waiting(batch)
            await slots.acquire()
            if not stopping:  # more arrived while every flush was busy
                stopping = self._take_waiting(batch)
            task = asyncio.create_task(self._flush_in_slot(batch.writes, slots))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)

    async def _flush_in_slot(self, batch: list[_Pending], slots: asyncio.Semaphore) -> None:
        try:
            await self._flush(batch)
        finally:
            slots.release()

    def _take_waiting(self, batch: _Batch) -> bool:
        """Move waiting writes into `batch` up to the size limit; True when told to stop."""
        while batch.size < self._max_messages and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _STOP:
                return True
            assert isinstance(item, _Pending)
            batch.writes.append(item)
            batch.size += item.size
        return False

    async def _flush(self, batch: list[_Pending]) -> None:
        try:
            await self._store(batch)
        except Exception as error:
            if is_unavailable(error) or len(batch) == 1:
                self._fail(batch, error)
                return
            # One bad write must not fail its neighbours: retry each on its own.
            for pending in batch:
                await self._flush([pending])
            return
        log.debug("ingest.flush.committed", writes=len(batch))
        self._settle(batch)

    async def _store(self, batch: list[_Pending]) -> None:
        inbound = [row for pending in batch for row in pending.inbound]
        rejected = [row for pending in batch for row in pending.rejected]

        async def store(connection: Connection) -> None:
            if rejected:
                async with connection.transaction():
                    await repository.insert_inbound(connection, inbound, window=self._dedup_window)
                    await repository.insert_rejected(connection, rejected)
            else:
                await repository.insert_inbound(connection, inbound, window=self._dedup_window)

        await self._connections.run(store)
        if self._on_commit is not None:
            self._on_commit(len(inbound) + len(rejected))

    def _release(self, pending: _Pending) -> None:
        self._pending_messages -= pending.size
        held = self._pending_by_workspace[pending.workspace_id] - pending.size
        if held:
            self._pending_by_workspace[pending.workspace_id] = held
        else:
            del self._pending_by_workspace[pending.workspace_id]

    def _settle(self, batch: list[_Pending]) -> None:
        for pending in batch:
            self._release(pending)
            if not pending.done.done():
                pending.done.set_result(None)

    def _fail(self, batch: list[_Pending], error: Exception) -> None:
        unavailable = is_unavailable(error)
        summary = str(error).splitlines()[0] if str(error) else type(error).__name__
        if unavailable:
            log.warning("ingest.flush.unavailable", error=summary)
        else:
            log.error("ingest.flush.failed", error=summary)
        for pending in batch:
            self._release(pending)
            if not pending.done.done():
                pending.done.set_exception(_outcome(unavailable))


def _outcome(unavailable: bool) -> PulsegateError:
    if unavailable:
        return ServiceUnavailable(
            "the database is unavailable; retry later", code="database_unavailable"
        )
    return StorageFailed("the message could not be stored; retry later")
