"""`/api/v1/fields` and `/api/v1/settings/custom-fields`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.fields import service
from pulsegate.fields.schemas import (
    CustomFieldSettingsIO,
    FieldIn,
    FieldList,
    FieldObject,
    FieldOut,
    MetricHistory,
    MetricValuesIn,
    MetricValuesStored,
)

router = APIRouter(prefix="/api/v1", tags=["custom fields"], route_class=StrictJsonRoute)


@router.get("/fields", summary="Custom dimension and metric definitions")
async def list_fields(
    request: Request, workspace_id: WorkspaceId, object: FieldObject | None = None
) -> FieldList:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_fields(session, workspace_id, object)


@router.post("/fields", status_code=status.HTTP_201_CREATED, summary="Define a custom field")
async def create_field(request: Request, workspace_id: WorkspaceId, body: FieldIn) -> FieldOut:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.create_field(session, workspace_id, body)


@router.get("/settings/custom-fields", summary="How traits become custom dimensions")
async def get_rule(request: Request, workspace_id: WorkspaceId) -> CustomFieldSettingsIO:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_rule(session, workspace_id)


@router.put("/settings/custom-fields", summary="Set how traits become custom dimensions")
async def put_rule(
    request: Request, workspace_id: WorkspaceId, body: CustomFieldSettingsIO
) -> CustomFieldSettingsIO:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.replace_rule(session, workspace_id, body)


@router.post("/metrics", summary="Record custom metric values (one a day per account or user)")
async def record_metrics(
    request: Request, workspace_id: WorkspaceId, body: MetricValuesIn
) -> MetricValuesStored:
    today = datetime.now(ZoneInfo(request.app.state.timezone)).date()
    async with unit_of_work(request.app.state.engine) as session:
        return await service.record_metric_values(session, workspace_id, body, today=today)


@router.get("/accounts/{account_id}/metrics/{key}", summary="A custom metric's daily history")
async def account_metric_history(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str,
    key: str,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> MetricHistory:
    async with unit_of_work(request.app.state.engine) as session:
        return await service.account_metric_history(
            session, workspace_id, account_id=account_id, key=key, start=start, end=end
        )
