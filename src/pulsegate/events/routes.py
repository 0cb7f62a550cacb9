"""`GET /api/v1/events`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.events import service
from pulsegate.events.repository import EventFilter
from pulsegate.events.schemas import EventPage, EventType

router = APIRouter(prefix="/api/v1", tags=["events"], route_class=StrictJsonRoute)


@router.get("/events", summary="Track, page and screen events in time order")
async def list_events(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str | None = None,
    user_id: str | None = None,
    type: EventType | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> EventPage:
    """Track, page and screen events in time order. `name` is the feature (a track call's `event`,
    or the page or screen name) and `module` its `properties.module`. `user_id` and `account_id`
    follow attribution: an event without `userId` belongs to the user its `anonymousId` was tied
    to, and one without `groupId` to its user's current account, whatever order the messages
    arrived in."""
    where = EventFilter(account_id=account_id, user_id=user_id, type=type, since=since, until=until)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_events(
            session, workspace_id=workspace_id, where=where, cursor=cursor, limit=limit
        )
