"""`/api/v1/destinations` and their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.db.engine import unit_of_work
from pulsegate.destinations import service
from pulsegate.destinations.schemas import (
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    DestinationIn,
    DestinationList,
    DestinationOut,
)

router = APIRouter(prefix="/api/v1", tags=["destinations"], route_class=StrictJsonRoute)


@router.get("/destinations", summary="Connected Freshsales accounts (API keys never shown)")
async def list_destinations(request: Request, workspace_id: WorkspaceId) -> DestinationList:
    """The workspace's Freshsales destinations with their options. API keys are stored encrypted and
    never shown."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_destinations(session, workspace_id)


@router.post(
    "/destinations",
    status_code=status.HTTP_201_CREATED,
    summary="Connect a Freshsales account",
    responses=error_responses(conflict="The workspace has a destination of that name"),
)
async def create_destination(
    request: Request, workspace_id: WorkspaceId, body: DestinationIn
) -> DestinationOut:
    """Connects a Freshsales account: identify, group and track calls (and page calls, if chosen)
    are forwarded through an outbox that retries with back-off within the plan's rate limits and
    never loses a message."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.create_destination(
            session, workspace_id, body, secret_box=request.app.state.secret_box
        )


@router.get("/destinations/{destination_id}/deliveries", summary="The outbox, by status")
async def list_deliveries(
    request: Request,
    workspace_id: WorkspaceId,
    destination_id: uuid.UUID,
    status: DeliveryStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryPage:
    """The destination's deliveries, newest first, by status: `pending`, `sent`, `rejected`
    (Freshsales refused it, or it cannot be mapped), `skipped` or `dead` (retries ran out), with
    the last error."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_deliveries(
            session, workspace_id, destination_id, status=status, cursor=cursor, limit=limit
        )


@router.post(
    "/destinations/{destination_id}/deliveries/{delivery_id}/retry",
    summary="Send a dead or rejected delivery again",
)
async def retry_delivery(
    request: Request, workspace_id: WorkspaceId, destination_id: uuid.UUID, delivery_id: int
) -> DeliveryOut:
    """Puts a dead or rejected delivery back in the outbox, to be sent at the next outbox run."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.retry_delivery(session, workspace_id, destination_id, delivery_id)
