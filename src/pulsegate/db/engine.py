"""Engine and unit-of-work helpers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, *, pool_size: int = 5, connect_timeout: int = 3) -> AsyncEngine:
    """The process id in `application_name` tells an operator (and `pg_stat_activity`) which
    replica or worker holds a connection, a lock or a long transaction.

    JIT compilation is off: pulsegate's queries are short, and when an estimate crosses
    `jit_above_cost` PostgreSQL spent 180 ms compiling a 0.1 ms backlog query (bench/README.md).
    """
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "connect_timeout": connect_timeout,
            "application_name": f"pulsegate:{os.getpid()}",
            "options": "-c jit=off",
        },
    )


@asynccontextmanager
async def unit_of_work(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session, session.begin():
        yield session


@asynccontextmanager
async def advisory_lock(engine: AsyncEngine, key: int) -> AsyncIterator[bool]:
    """Try a session-level advisory lock, held on a connection of its own for the block;
    yields whether it was taken (another holder means the work runs elsewhere)."""
    async with engine.connect() as connection:
        taken = bool(
            (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            ).scalar()
        )
        await connection.commit()
        try:
            yield taken
        finally:
            if taken:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await connection.commit()


def is_unavailable(error: BaseException) -> bool:
    """True when a database error means "not reachable now" rather than "this write is bad",
    raised through SQLAlchemy or by psycopg itself (the ingest writer's own connections)."""
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(
            error, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(
        error,
        psycopg.OperationalError
        | psycopg.InterfaceError
        | OSError
        | TimeoutError
        | sa_exc.TimeoutError,
    )
