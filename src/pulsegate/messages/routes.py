"""`GET /api/v1/messages`: the hot log of stored messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.messages import service
from pulsegate.messages.repository import MessageFilter
from pulsegate.messages.schemas import MessagePage, MessageType

router = APIRouter(prefix="/api/v1", tags=["messages"], route_class=StrictJsonRoute)


@router.get(
    "/messages",
    summary="Stored messages of every type, newest first, with what the projector made of each",
)
async def list_messages(
    request: Request,
    workspace_id: WorkspaceId,
    type: MessageType | None = None,
    source_id: uuid.UUID | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    account_id: Annotated[str | None, Query(description="The groupId")] = None,
    since: Annotated[datetime | None, Query(description="Received at or after")] = None,
    until: Annotated[datetime | None, Query(description="Received before")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> MessagePage:
    """The stored messages of every type, newest first, as stored (normalised), with their warnings
    and `projection`: `state` (`pending`, `applied`, or `failed` with its error), the projector's
    `notes`, and the event a track, page or screen call became. A page reads at most 10,000
    messages of the log and filters those, so it may hold fewer items than `limit` and still have
    a `next_cursor`: page on until it is null."""
    where = MessageFilter(
        type=type,
        source_id=source_id,
        user_id=user_id,
        anonymous_id=anonymous_id,
        account_id=account_id,
        since=since,
        until=until,
    )
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_messages(
            session, workspace_id, where=where, cursor=cursor, limit=limit
        )
