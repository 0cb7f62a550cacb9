"""How far the log may be read without ever skipping a message that commits later.

Log ids come from a sequence, so they are handed out in order but may commit out of order:
several flushes overlap, and every replica has its own writer. A reader that applied id 12
and moved on could miss id 11 if 11's transaction commits afterwards.

A fence is taken in two reads, in this order: the sequence's last value S, then the set H of
transactions holding a write lock on `inbound_messages`. Every id up to S was handed out
before the second read, by a transaction that either had ended by then or was still running,
and a running one holds that lock (an insert takes it before it draws an id and keeps it to
the end). So once none of H is running any more, no id up to S can still appear: S is safe.

The watermark keeps the fences it has taken and, at each `advance`, moves to the highest S
whose H has ended. Under steady ingest the flushes in flight at one poll have ended by the
next, so the watermark trails the writers by one poll. Unlike `pg_snapshot_xmin`, it ignores
every transaction that does not write to the log: a `pg_dump`, an analyst's query, a
transaction in another database, or a long transaction on another of our tables.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.projection import repository


async def settled_position(connection: AsyncConnection) -> int:
    """One fence, waited for: the log's last id once every transaction that was writing to it
    has ended (flushes take milliseconds). Everything up to it is final."""
    sequence_value = await repository.log_sequence_value(connection)
    writers = await repository.log_writers(connection)
    while writers:
        await asyncio.sleep(0.05)
        writers &= await repository.log_writers(connection)
    return sequence_value


@dataclass(frozen=True, slots=True)
class Fence:
    sequence_value: int
    writers: frozenset[str]


@dataclass(slots=True)
class Watermark:
    """One per projector worker; safe to share by nothing else."""

    value: int = 0
    _fences: list[Fence] = field(default_factory=list)

    async def advance(self, connection: AsyncConnection) -> int:
        """Take a fence, clear the fences whose writers have all ended; return the mark."""
        sequence_value = await repository.log_sequence_value(connection)
        writers = await repository.log_writers(connection)
        self._fences.append(Fence(sequence_value, writers))
        cleared = [fence for fence in self._fences if not fence.writers & writers]
        if cleared:
            self.value = max(self.value, *(fence.sequence_value for fence in cleared))
        self._fences = [
            fence
            for fence in self._fences
            if fence.writers & writers and fence.sequence_value > self.value
        ]
        return self.value
