"""What the console's pages show, from the same services the REST API uses.

The console has no second path to the data: accounts, users, usage, health, metrics, the
stored and refused messages come from their features' services; only the live debugger's
"what arrived since" and the accounts list's search are the console's own reads
(console/repository.py).
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.accounts import service as accounts_service
from pulsegate.console import repository
from pulsegate.console.session import ConsoleSession, new_session
from pulsegate.events import service as events_service
from pulsegate.events.repository import EventFilter
from pulsegate.fields import service as fields_service
from pulsegate.health_scores import service as health_scores_service
from pulsegate.sessions import service as sessions_service
from pulsegate.sessions.repository import SessionFilter
from pulsegate.workspaces import service as workspaces_service

# The debugger shows at most this many messages each half second (100 a second); under more
# traffic it shows the newest and says how many it skipped.
SHOWN_PER_TICK = 50
HISTORY_DAYS = 30


async def sign_in(
    session: AsyncSession, key: str, *, configured_admin_token: str | None
) -> ConsoleSession | None:
    """A session for a workspace API key or the admin token, or None."""
    if configured_admin_token and hmac.compare_digest(configured_admin_token, key):
        return new_session("admin", workspace_id=await _first_workspace(session))
    if await workspaces_service.admin_token_name(session, key) is not None:
        return new_session("admin", workspace_id=await _first_workspace(session))
    api_key = await workspaces_service.api_key_for(session, key)
    if api_key is None:
        return None
    return new_session("workspace", workspace_id=api_key.workspace_id, key_id=api_key.id)


async def _first_workspace(session: AsyncSession) -> uuid.UUID | None:
    found = await workspaces_service.list_workspaces(session)
    return found[0].id if found else None


async def still_valid(session: AsyncSession, console: ConsoleSession) -> bool:
    """A workspace session lasts as long as the API key it signed in with."""
    if console.is_admin:
        return True
    if console.workspace_id is None or console.key_id is None:
        return False
    return await workspaces_service.api_key_id_is_valid(
        session, console.workspace_id, console.key_id
    )


@dataclass
class DebuggerFilter:
    type: str = ""
    source: str = ""
    user: str = ""
    event: str = ""

    def keeps(self, item: dict[str, Any]) -> bool:
        if self.type and item["type"] != self.type:
            return False
        if self.source and str(item["source_id"]) != self.source:
            return False
        if self.user and self.user not in (item.get("user_id"), item.get("anonymous_id")):
            return False
        return not self.event or item.get("event") == self.event


@dataclass
class DebuggerTick:
    items: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    after_stored: int = 0
    after_refused: int = 0


async def debugger_start(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[int, int]:
    return await repository.newest_ids(session, workspace_id)


async def debugger_tick(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    after_stored: int,
    after_refused: int,
    where: DebuggerFilter,
) -> DebuggerTick:
    """What arrived since the last tick, acknowledged and refused, filtered, at most
    `SHOWN_PER_TICK` of it (the newest)."""
    stored = await repository.stored_after(session, workspace_id, after_stored, 1000)
    refused = await repository.refused_after(session, workspace_id, after_refused, 1000)
    tick = DebuggerTick(
        after_stored=stored[-1]["id"] if stored else after_stored,
        after_refused=refused[-1]["id"] if refused else after_refused,
    )
    items = [{**row, "status": "accepted"} for row in stored if where.keeps(row)] + [
        {
            **row,
            "status": "refused",
            "type": row["endpoint"].rsplit("/", 1)[-1],
            "code": (row["reasons"] or [{}])[0].get("code"),
            "reason": _reason((row["reasons"] or [{}])[0]),
        }
        for row in refused
        if not where.type and not where.event
    ]
    items.sort(key=lambda item: item["received_at"])
    tick.skipped = max(0, len(items) - SHOWN_PER_TICK)
    tick.items = items[-SHOWN_PER_TICK:]
    return tick


def _reason(first: dict[str, Any]) -> str:
    """A refusal's first reason as one line: its field, then its message."""
    field_name = first.get("field")
    return f"{field_name}: {first.get('message')}" if field_name else str(first.get("message"))


async def accounts_list(
    session: AsyncSession, workspace_id: uuid.UUID, *, query: str, sort: str, metric: str
) -> list[dict[str, Any]]:
    if sort not in repository.SORTS:
        sort = "name"
    return await repository.search_accounts(
        session, workspace_id, query=query.strip(), sort=sort, metric=metric, limit=200
    )


async def account_metrics(session: AsyncSession, workspace_id: uuid.UUID) -> list[str]:
    """The keys of the workspace's account metrics, for the list's metric column."""
    found = await fields_service.list_fields(session, workspace_id, "account")
    return [field.key for field in found.items if field.kind == "metric"]


async def users_list(
    session: AsyncSession, workspace_id: uuid.UUID, *, query: str
) -> list[dict[str, Any]]:
    return await repository.search_users(session, workspace_id, query=query.strip(), limit=200)


async def account_page(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str, *, timezone: str, today: date
) -> dict[str, Any]:
    """Everything the account page draws, for the last `HISTORY_DAYS` days."""
    account = await accounts_service.get_account(session, workspace_id, account_id)
    first = today - timedelta(days=HISTORY_DAYS - 1)
    usage = await sessions_service.usage(
        session,
        workspace_id=workspace_id,
        account_id=account_id,
        first_day=first,
        last_day=today,
        timezone=timezone,
    )
    health = await health_scores_service.account_history(
        session, workspace_id, account_id, first=first, last=today
    )
    metrics = []
    for found in (await fields_service.list_fields(session, workspace_id, "account")).items:
        if found.kind != "metric":
            continue
        history = await fields_service.account_metric_history(
            session, workspace_id, account_id=account_id, key=found.key, start=first, end=today
        )
        metrics.append(history)
    users = await accounts_service.list_account_users(
        session, workspace_id, account_id, cursor=None, limit=100
    )
    events = await events_service.list_events(
        session,
        workspace_id=workspace_id,
        where=EventFilter(account_id=account_id),
        cursor=None,
        limit=25,
    )
    return {
        "account": account,
        "fields": shown_fields(account.model_dump()),
        "usage": usage,
        "health": health,
        "metrics": metrics,
        "users": users.items,
        "events": events.items,
        "first": first,
        "last": today,
    }


async def user_page(session: AsyncSession, workspace_id: uuid.UUID, user_id: str) -> dict[str, Any]:
    user = await accounts_service.get_user(session, workspace_id, user_id)
    events = await events_service.list_events(
        session,
        workspace_id=workspace_id,
        where=EventFilter(user_id=user_id),
        cursor=None,
        limit=50,
    )
    sessions = await sessions_service.list_sessions(
        session,
        workspace_id=workspace_id,
        where=SessionFilter(user_id=user_id),
        cursor=None,
        limit=25,
    )
    return {
        "user": user,
        "identities": await repository.identities_of(session, workspace_id, user_id),
        "fields": shown_fields(user.model_dump()),
        "events": events.items,
        "sessions": sessions.items,
    }


def shown_fields(values: dict[str, Any]) -> list[tuple[str, Any]]:
    """The standard fields that have a value, then the custom ones, as (label, value)."""
    custom = values.pop("custom", {}) or {}
    shown = [(name.replace("_", " "), value) for name, value in values.items() if value is not None]
    return shown + [(f"{name} (custom)", value) for name, value in custom.items()]


def chart(title: str, days: list[date], series: dict[str, list[float | None]]) -> dict[str, Any]:
    """A uPlot chart's data, drawn by console.js: x in Unix seconds, one list per series."""
    xs = [int(datetime.combine(day, time(), tzinfo=UTC).timestamp()) for day in days]
    return {"title": title, "x": xs, "series": series}


def account_charts(page: dict[str, Any]) -> list[dict[str, Any]]:
    usage_days = [day.date for day in page["usage"].days]
    charts = [
        chart(
            "Daily usage",
            usage_days,
            {
                "sessions": [day.sessions for day in page["usage"].days],
                "active users": [day.active_users for day in page["usage"].days],
                "minutes": [round(day.seconds / 60, 1) for day in page["usage"].days],
            },
        )
    ]
    health = page["health"].items
    if health:
        charts.append(
            chart("Health score", [h.day for h in health], {"score": [h.score for h in health]})
        )
    for history in page["metrics"]:
        if history.items:
            charts.append(
                chart(
                    f"Metric: {history.key}",
                    [point.date for point in history.items],
                    {history.key: [point.value for point in history.items]},
                )
            )
    return charts
