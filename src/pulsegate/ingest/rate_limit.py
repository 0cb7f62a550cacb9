"""Per-source rate limits, in messages a second, shared by every replica.

Each source has a window per second (Unix time, whole seconds) in `rate_windows`, counting the
messages that replicas have reserved in it. A process admits requests from a lease: when its
lease for the source's current window runs out, it reserves the next part of the window (a
tenth of the limit, or the request's size if larger) with one statement that grants it only
while the window is under the limit. So the replicas together admit about the limit a second:
a reservation that crosses the limit is granted whole (a batch is admitted whole), so a window
may run over by one reservation; a lease left unused when its second ends is lost, so under
load spread over R replicas a window may fall short by up to R reservations. Above the limit:
429 with `Retry-After` (the seconds until the window ends), which every Segment SDK retries.

The limit of a source is its own, else its workspace's, else `PULSEGATE_SOURCE_RATE_LIMIT`
(0: none). A request costs a dict lookup; the database sees one statement per tenth of the
limit. When the database cannot be reached the request is admitted (the writer then answers
for the database).
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.errors import RateLimited

log = structlog.get_logger(__name__)

# Grants `:wanted` more of the window while it is under the limit; no row: it is full.
_RESERVE = """
INSERT INTO rate_windows AS w (workspace_id, source_id, second, messages)
VALUES (:workspace_id, :source_id, :second, :wanted)
ON CONFLICT (workspace_id, source_id, second)
DO UPDATE SET messages = w.messages + excluded.messages WHERE w.messages < :limit
RETURNING w.messages
"""

# Windows are read only while current; the table keeps a minute of them.
_FORGET = "DELETE FROM rate_windows WHERE second < :before"


@dataclass(slots=True)
class _Lease:
    second: int
    remaining: int = 0
    full: bool = False  # the window is full: refuse until the next second
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class RateLimiter:
    def __init__(self, engine: AsyncEngine, *, default_limit: int) -> None:
        self._engine = engine
        self._default_limit = default_limit
        self._leases: dict[tuple[uuid.UUID, uuid.UUID], _Lease] = {}
        self._last_forget = 0.0

    async def admit(
        self,
        *,
        workspace_id: uuid.UUID,
        source_id: uuid.UUID,
        limit: int | None,
        messages: int,
    ) -> None:
        """Count `messages` against the source's current window, or raise `RateLimited`."""
        limit = limit or self._default_limit
        if limit <= 0:
            return
        now = time.time()
        second = int(now)
        key = (workspace_id, source_id)
        lease = self._leases.get(key)
        if lease is None or lease.second != second:
            lease = self._leases[key] = _Lease(second)
        if lease.remaining >= messages:  # the common case: no await, no query
            lease.remaining -= messages
            return
        async with lease.lock:
            if lease.remaining < messages and not lease.full:
                wanted = max(messages - lease.remaining, math.ceil(limit / 10))
                granted = await self._reserve(key, second, wanted, limit)
                if granted:
                    lease.remaining += wanted
                else:
                    lease.full = True
            if lease.remaining >= messages:
                lease.remaining -= messages
                return
        raise RateLimited(
            f"this source may send {limit:,} messages a second; retry after the window",
            retry_after=max(1, math.ceil(second + 1 - now)),
            reset_at=second + 1,
        )

    async def _reserve(
        self, key: tuple[uuid.UUID, uuid.UUID], second: int, wanted: int, limit: int
    ) -> bool:
        try:
            async with self._engine.begin() as connection:
                granted = await connection.scalar(
                    text(_RESERVE),
                    {
                        "workspace_id": key[0],
                        "source_id": key[1],
                        "second": second,
                        "wanted": wanted,
                        "limit": limit,
                    },
                )
                if time.monotonic() - self._last_forget > 10:
                    self._last_forget = time.monotonic()
                    await connection.execute(text(_FORGET), {"before": second - 60})
                    self._forget_leases(second)
        except Exception as error:
            log.warning("rate_limit.reserve_failed", error=str(error).splitlines()[0:1])
            return True
        return granted is not None

    def _forget_leases(self, second: int) -> None:
        for key in [key for key, lease in self._leases.items() if lease.second < second]:
            del self._leases[key]
