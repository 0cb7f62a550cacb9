"""`/api/v1/reverse-sync`: rules, and runs with what they sent."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.reverse_sync import service
from pulsegate.reverse_sync.schemas import ItemPage, RuleIn, RuleList, RuleOut, RunList, RunOut

router = APIRouter(
    prefix="/api/v1/reverse-sync", tags=["reverse sync"], route_class=StrictJsonRoute
)


@router.get("/rules", summary="Which pulsegate values fill which Freshsales fields")
async def list_rules(request: Request, workspace_id: WorkspaceId) -> RuleList:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_rules(session, workspace_id)


@router.post("/rules", status_code=status.HTTP_201_CREATED, summary="Add a reverse-sync rule")
async def create_rule(request: Request, workspace_id: WorkspaceId, body: RuleIn) -> RuleOut:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.create_rule(session, workspace_id, body)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a rule")
async def delete_rule(request: Request, workspace_id: WorkspaceId, rule_id: uuid.UUID) -> Response:
    async with unit_of_work(request.app.state.engine) as session:
        await service.delete_rule(session, workspace_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/runs",
    status_code=status.HTTP_201_CREATED,
    summary="Push the changed values now; answers when the run ends",
)
async def create_run(request: Request, workspace_id: WorkspaceId) -> RunOut:
    reverse_sync = service.ReverseSync(request.app.state.engine, request.app.state.secret_box)
    return await reverse_sync.run(workspace_id, trigger="api")


@router.get("/runs", summary="The latest runs, newest first")
async def list_runs(
    request: Request,
    workspace_id: WorkspaceId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RunList:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_runs(session, workspace_id, limit=limit)


@router.get("/runs/{run_id}/items", summary="What a run wrote to Freshsales, record by record")
async def list_items(
    request: Request,
    workspace_id: WorkspaceId,
    run_id: int,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ItemPage:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_items(session, workspace_id, run_id, cursor=cursor, limit=limit)
