"""`/api/v1/rejected-messages`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.db.engine import unit_of_work
from pulsegate.rejected import service
from pulsegate.rejected.schemas import RejectedPage, ReplayOut

router = APIRouter(prefix="/api/v1", tags=["rejected messages"], route_class=StrictJsonRoute)


@router.get("/rejected-messages", summary="Refused messages, newest first, with their reasons")
async def list_rejected(
    request: Request,
    workspace_id: WorkspaceId,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RejectedPage:
    """Refused messages, newest first, with their reasons (a `code` and `details` per problem) and
    the bytes that were sent (truncated past the size limit)."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_rejected(session, workspace_id, cursor=cursor, limit=limit)


@router.post(
    "/rejected-messages/{rejected_id}/replay",
    summary="Ingest a refused message again",
    responses=error_responses(conflict="Its body was truncated (`not_replayable`)"),
)
async def replay(request: Request, workspace_id: WorkspaceId, rejected_id: int) -> ReplayOut:
    """Runs a kept message through ingestion again under today's rules and limits, for a refusal
    whose cause has changed. Stored: the record is marked `replayed_at`. Refused again: the
    answer gives the current reasons. A truncated body answers 409 `not_replayable`."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.replay(
            session, workspace_id, rejected_id, ingest=request.app.state.ingest
        )
