"""`GET /api/v1/sessions` and the daily usage of accounts and users."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.sessions import service
from pulsegate.sessions.repository import SessionFilter
from pulsegate.sessions.schemas import SessionPage, UsageReport

router = APIRouter(prefix="/api/v1", tags=["sessions"], route_class=StrictJsonRoute)

FromDay = Annotated[date | None, Query(alias="from", description="Default: 29 days before `to`")]
ToDay = Annotated[date | None, Query(alias="to", description="Default: today")]


@router.get("/sessions", summary="Sessions in start order, with time per module and feature")
async def list_sessions(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str | None = None,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SessionPage:
    """Sessions in start order: a 30-minute timeout per session key (`anonymousId`, else `userId`),
    cut at 24 hours, with duration and time per module and feature. Built by the session sweep
    every minute, so the newest events appear in sessions within about a minute."""
    where = SessionFilter(account_id=account_id, user_id=user_id, since=since, until=until)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_sessions(
            session, workspace_id=workspace_id, where=where, cursor=cursor, limit=limit
        )


@router.get(
    "/accounts/{account_id}/usage",
    summary="An account's daily usage, and its health measures as of `to`",
)
async def account_usage(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str,
    first: FromDay = None,
    last: ToDay = None,
) -> UsageReport:
    """An account's daily usage (sessions, time spent, active users, events) between `from` and
    `to`, and its health-score usage measures as of `to`."""
    return await _usage(request, workspace_id, first, last, account_id=account_id)


@router.get("/users/{user_id}/usage", summary="A user's daily usage")
async def user_usage(
    request: Request,
    workspace_id: WorkspaceId,
    user_id: str,
    first: FromDay = None,
    last: ToDay = None,
) -> UsageReport:
    """A user's daily usage (sessions, time spent, events) between `from` and `to`."""
    return await _usage(request, workspace_id, first, last, user_id=user_id)


async def _usage(
    request: Request,
    workspace_id: uuid.UUID,
    first: date | None,
    last: date | None,
    **subject: str,
) -> UsageReport:
    timezone = request.app.state.timezone
    last = last or datetime.now(ZoneInfo(timezone)).date()
    first = first or last - timedelta(days=service.MEASURE_DAYS - 1)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.usage(
            session,
            workspace_id=workspace_id,
            first_day=first,
            last_day=last,
            timezone=timezone,
            **subject,
        )
