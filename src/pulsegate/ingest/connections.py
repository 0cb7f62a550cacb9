"""The group-commit writer's own database connections, kept open between flushes.

Through SQLAlchemy's pool, a flush checked a connection out (with the pre-ping's round trip),
ran its one statement through the engine's layers, and checked it back in: 2.0 ms a flush at
half load, against 0.8 ms for the statement alone on a psycopg connection held open
(bench/README.md, "The writer's connections"). Each round trip also waits its turn on the
event loop that is parsing the next requests, so the saving is latency, and at full load,
throughput.

The writer never runs more than `concurrency` flushes, so this holds at most that many
connections, each used by one flush at a time; a pool with a background task to grow, shrink
and check them (psycopg_pool) would add parts without adding anything the writer needs.

A connection is not pinged before use. One the server closed since its last flush (a restart,
a failover) fails its statement; `run` then runs the statement once more on a new
connection. The writer's statements may run twice: a message whose id is already stored is
skipped, so a flush that committed before its connection broke stores nothing the second time.
(Refused messages have no id to skip them by: one whose flush committed in the instant before
its connection broke would be kept twice, with the same reasons.)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus

T = TypeVar("T")

Connection = psycopg.AsyncConnection[Any]

# JIT off as on every pulsegate connection (db/engine.py). A generic plan: the writer runs the
# same statement thousands of times a second, and PostgreSQL planned it afresh each time (about
# 0.15 ms, whatever the flush's size; its partitions are pruned when it runs either way).
# psycopg prepares a statement run five times on a connection, and the plan then stays.
# `python bench/writer_flush.py` (the local PostgreSQL 15): the backend's CPU a flush of 8
# messages 577 -> 413 and 560 -> 383 us, of 60 messages 1,743 -> 1,554 and 1,730 -> 1,595 us.
OPTIONS = "-c jit=off -c plan_cache_mode=force_generic_plan"


def application_name() -> str:
    """How the writer's connections show in `pg_stat_activity`: the engine's name for the
    process, and what they are for."""
    return f"pulsegate:{os.getpid()}:writer"


class WriterConnections:
    def __init__(self, conninfo: str, *, connect_timeout: int = 3) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._idle: list[Connection] = []

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """`work` on an open connection in autocommit (a statement is its own transaction;
        `connection.transaction()` groups several), run again on a new connection when the
        one it was given turns out to have been closed by the server."""
        if self._idle:
            connection = self._idle.pop()
            try:
                return await work(connection)
            except psycopg.OperationalError:
                if not connection.broken:
                    raise  # the statement failed, not the connection
            finally:
                await self._put_back(connection)
        connection = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=self._connect_timeout,
            application_name=application_name(),
            options=OPTIONS,
        )
        try:
            return await work(connection)
        finally:
            await self._put_back(connection)

    async def _put_back(self, connection: Connection) -> None:
        """Keep a connection that is open and outside a transaction; close any other (one
        whose statement was interrupted, say)."""
        if connection.closed:
            return
        if connection.info.transaction_status == TransactionStatus.IDLE:
            self._idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
