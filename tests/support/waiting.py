"""Waiting for what a background task (the projector, the sweep, a job) does, failing loudly.

Tests never sleep a fixed time to let something happen: they wait for the condition, and
when it does not come they fail with what they last saw.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from tests.support.database import Rows
from tests.support.tenants import Tenant

Seen = TypeVar("Seen")


async def eventually(
    probe: Callable[[], Seen | Awaitable[Seen]],
    until: Callable[[Seen], Any] = bool,
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str = "the condition",
) -> Seen:
    """Call `probe` until `until(value)` holds, and return that value; after `timeout` seconds
    fail, naming `what` and showing the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if inspect.isawaitable(seen):
            seen = await seen
        if until(seen):
            return seen  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s; last seen: {seen!r}")
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], Seen],
    until: Callable[[Seen], Any] = bool,
    *,
    timeout: float = 10,
    interval: float = 0.05,
    what: str = "the condition",
) -> Seen:
    """`eventually` for tests outside an event loop (real servers, subprocesses)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if until(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout} s; last seen: {seen!r}")
        time.sleep(interval)


async def settle(client: httpx.AsyncClient, tenant: Tenant, rows: Rows) -> None:
    """Wait until the projector has applied everything stored so far."""
    await eventually(lambda: rows.projected(tenant.workspace_id), what="the projector to catch up")
