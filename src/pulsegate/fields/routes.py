"""`/api/v1/fields` and `/api/v1/settings/custom-fields`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
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
    """The workspace's custom dimensions and metrics, for accounts and users, with their types."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_fields(session, workspace_id, object)


@router.post(
    "/fields",
    status_code=status.HTTP_201_CREATED,
    summary="Define a custom field",
    responses=error_responses(conflict="The workspace has a field of that object and key"),
)
async def create_field(request: Request, workspace_id: WorkspaceId, body: FieldIn) -> FieldOut:
    """Defines a custom dimension (latest value) or metric (one value a day, history kept) of
    accounts or users, with its type. 409 when the key exists."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.create_field(session, workspace_id, body)


@router.get("/settings/custom-fields", summary="How traits become custom dimensions")
async def get_rule(request: Request, workspace_id: WorkspaceId) -> CustomFieldSettingsIO:
    """How group and identify traits that are not standard fields become custom dimensions: `auto`
    (each new trait defines one, typed by its first value), `mapped` (only the mappings) or
    `off`."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_rule(session, workspace_id)


@router.put("/settings/custom-fields", summary="Set how traits become custom dimensions")
async def put_rule(
    request: Request, workspace_id: WorkspaceId, body: CustomFieldSettingsIO
) -> CustomFieldSettingsIO:
    """Sets the custom-field mode and the trait mappings. Applies to messages projected from now on
    (and to a replay)."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.replace_rule(session, workspace_id, body)


@router.post("/metrics", summary="Record custom metric values (one a day per account or user)")
async def record_metrics(
    request: Request, workspace_id: WorkspaceId, body: MetricValuesIn
) -> MetricValuesStored:
    """Records custom metric values, one a day per account or user: a later write replaces that
    day's value. `date` defaults to today in `PULSEGATE_TIMEZONE`. Every key must be a defined
    metric, or nothing is stored (`unknown_metric`)."""
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
    """A custom metric's daily values for the account, oldest first, between `from` and `to` (the
    last 30 days by default)."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.account_metric_history(
            session, workspace_id, account_id=account_id, key=key, start=start, end=end
        )
