"""Health scores: the configuration, on-demand runs, and an account's history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.health_scores import service
from pulsegate.health_scores.schemas import (
    HealthHistory,
    HealthScoreConfigIn,
    HealthScoreConfigOut,
    HealthScoreRunIn,
    HealthScoreRunOut,
)

router = APIRouter(prefix="/api/v1", tags=["health scores"], route_class=StrictJsonRoute)
_TODAY = HealthScoreRunIn()  # a run without a body


@router.get("/health-scores/config", summary="The configuration (version 0: the built-in one)")
async def get_config(request: Request, workspace_id: WorkspaceId) -> HealthScoreConfigOut:
    """The workspace's health-score configuration: the default sections, weights, measures and
    bands, and ranked segments. Version 0 is the built-in configuration of usage measures, in
    force until the workspace sets its own."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_config(session, workspace_id)


@router.put("/health-scores/config", summary="Replace the configuration (default and segments)")
async def replace_config(
    request: Request, workspace_id: WorkspaceId, body: HealthScoreConfigIn
) -> HealthScoreConfigOut:
    """Replaces the configuration whole, as a new version. Measures name defined account fields
    (`unknown_field` otherwise); weights need not sum to anything."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.replace_config(session, workspace_id, body, now=datetime.now(UTC))


@router.post("/health-scores/runs", summary="Score every account now (replaces the day's scores)")
async def run_scores(
    request: Request, workspace_id: WorkspaceId, body: HealthScoreRunIn = _TODAY
) -> HealthScoreRunOut:
    """Scores every account now for a day (today by default; `day` rescores a past one), replacing
    that day's scores. Usage is read over the full days before the scored day."""
    now = datetime.now(UTC)
    timezone: str = request.app.state.timezone
    day = body.day or service.today(timezone, now)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.score_workspace(
            session, workspace_id, day=day, timezone=timezone, now=now
        )


@router.get("/accounts/{account_id}/health", summary="The account's daily scores (30 days)")
async def account_health(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
) -> HealthHistory:
    """The account's daily scores between `from` and `to` (30 days by default): score, band,
    segment, the breakdown by section and measure (with each value, and why a measure was left
    out), and `config_changed` where the configuration version changed."""
    last = last or service.today(request.app.state.timezone, datetime.now(UTC))
    first = first or last - timedelta(days=29)
    async with unit_of_work(request.app.state.engine) as session:
        return await service.account_history(
            session, workspace_id, account_id, first=first, last=last
        )
