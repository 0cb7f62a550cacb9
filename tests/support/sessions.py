"""Sessions for tests: a timeline of events around one account, and running the sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from pulsegate.sessions import sweep as sessions
from pulsegate.sessions.sessionize import SessionRules
from tests.support.database import PROJECTED
from tests.support.http import bearer
from tests.support.tenants import Tenant
from tests.support.waiting import eventually

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def track(mid: str, seconds: float, module: str | None, **ids: str) -> dict[str, Any]:
    properties = {"module": module} if module else {}
    return {
        "type": "track",
        "messageId": mid,
        "event": f"Feature {mid}",
        "timestamp": at(seconds),
        "properties": properties,
        **ids,
    }


# The account and its two users, then three session keys:
# - anon-1, tied to u-1 by an identify: events at 0, 60, 200 (Reports, Reports, Dashboards), a
#   gap of 40 minutes, then 2600 and a page at 2700 with category Docs. A late event at 1400
#   would bridge both into one session (the property test sends it).
# - u-2 without an anonymousId (the key falls back to the userId): 100, then 1900 (a gap of
#   exactly 30 minutes: same session), then 3800 (a gap of 1900 s: a new session).
ACCOUNT = [
    {
        "type": "group",
        "messageId": "g-1",
        "userId": "u-1",
        "groupId": "acct-1",
        "timestamp": at(-10),
        "traits": {"name": "Acme", "createdAt": "2024-01-01"},
    },
    {
        "type": "group",
        "messageId": "g-2",
        "userId": "u-2",
        "groupId": "acct-1",
        "timestamp": at(-10),
    },
    {
        "type": "identify",
        "messageId": "i-1",
        "userId": "u-1",
        "anonymousId": "anon-1",
        "timestamp": at(2650),
    },
]


TIMELINE = [
    track("a-0", 0, "Reports", anonymousId="anon-1"),
    track("a-1", 60, "Reports", anonymousId="anon-1"),
    track("a-2", 200, "Dashboards", anonymousId="anon-1"),
    track("a-3", 2600, "Reports", anonymousId="anon-1"),
    {
        "type": "page",
        "messageId": "a-4",
        "anonymousId": "anon-1",
        "name": "Guide",
        "category": "Docs",
        "timestamp": at(2700),
        "properties": {},
    },
    track("b-0", 100, None, userId="u-2"),
    track("b-1", 1900, "Billing", userId="u-2"),
    track("b-2", 3800, "Billing", userId="u-2"),
]


async def sweep(app: FastAPI) -> None:
    """Sweep once the app's projector has applied every stored message, until no key is left
    queued. A single sweep now and then missed sessions: run while the projector held a
    workspace's lock, it puts that workspace's keys back for a later sweep, and run before an
    identify was applied, it attributes the sessions without it."""
    engine = app.state.engine

    async def projected() -> bool:
        async with engine.connect() as connection:
            return bool((await connection.exec_driver_sql(PROJECTED, {"w": None})).scalar())

    async def swept_and_left() -> int:
        await sessions.sweep(engine, rules=SessionRules())
        async with engine.connect() as connection:
            left = await connection.exec_driver_sql("SELECT count(*) FROM session_dirty")
            return int(left.scalar() or 0)

    await eventually(projected, what="the projector to apply every stored message")
    await eventually(swept_and_left, lambda left: left == 0, what="the session queue to empty")


async def wait_for_account(client: httpx.AsyncClient, tenant: Tenant, account_id: str) -> None:
    await eventually(
        lambda: client.get(f"/api/v1/accounts/{account_id}", headers=bearer(tenant)),
        lambda response: response.status_code == 200,
        what=f"account {account_id} to be projected",
    )
