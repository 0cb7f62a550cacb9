"""`/api/v1/reverse-sync`: rules, and runs with what they sent."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.db.engine import unit_of_work
from pulsegate.reverse_sync import service
from pulsegate.reverse_sync.schemas import ItemPage, RuleIn, RuleList, RuleOut, RunList, RunOut

router = APIRouter(
    prefix="/api/v1/reverse-sync", tags=["reverse sync"], route_class=StrictJsonRoute
)


@router.get("/rules", summary="Which pulsegate values fill which Freshsales fields")
async def list_rules(request: Request, workspace_id: WorkspaceId) -> RuleList:
    """The reverse-sync rules: which pulsegate value (last seen, 30-day sessions and time, active
    users, a custom dimension or metric, the health score) fills which Freshsales field of
    contacts or sales accounts."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_rules(session, workspace_id)


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a reverse-sync rule",
    responses=error_responses(conflict="A rule already fills that field of the destination"),
)
async def create_rule(request: Request, workspace_id: WorkspaceId, body: RuleIn) -> RuleOut:
    """Adds a rule. `target` `contact` matches by email; `sales_account` by name or by a `cf_*`
    field holding pulsegate's account id."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.create_rule(session, workspace_id, body)


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a rule")
async def delete_rule(request: Request, workspace_id: WorkspaceId, rule_id: uuid.UUID) -> Response:
    """Removes a rule; values it pushed stay in Freshsales."""
    async with unit_of_work(request.app.state.engine) as session:
        await service.delete_rule(session, workspace_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/runs",
    status_code=status.HTTP_201_CREATED,
    summary="Push the changed values now; answers when the run ends",
    responses=error_responses(conflict="A run of this workspace runs now (`run_in_progress`)"),
)
async def create_run(request: Request, workspace_id: WorkspaceId) -> RunOut:
    """Pushes now the values that changed since they were last pushed, one upsert per Freshsales
    record, within the destination's rate budget; the rest is deferred to the next run. Answers
    when the run ends. 409 `run_in_progress` while another runs."""
    reverse_sync = service.ReverseSync(request.app.state.engine, request.app.state.secret_box)
    return await reverse_sync.run(workspace_id, trigger="api")


@router.get("/runs", summary="The latest runs, newest first")
async def list_runs(
    request: Request,
    workspace_id: WorkspaceId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RunList:
    """The latest reverse-sync runs with their counts (sent, unchanged, unmatched, failed,
    deferred), newest first."""
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
    """Every write a run made or tried, record by record, with Freshsales's answer."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_items(session, workspace_id, run_id, cursor=cursor, limit=limit)
