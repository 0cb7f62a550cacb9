"""`/api/v1/connectors`: third-party fields into custom dimensions and metrics."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status

from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.connectors import service
from pulsegate.connectors.schemas import (
    Catalog,
    ConnectorIn,
    ConnectorList,
    ConnectorOut,
    ConnectorRunIn,
    ConnectorRunList,
    ConnectorRunOut,
    IssuePage,
)
from pulsegate.connectors.sync import ConnectorSync
from pulsegate.db.engine import unit_of_work
from pulsegate.errors import PayloadTooLarge

router = APIRouter(prefix="/api/v1/connectors", tags=["connectors"], route_class=StrictJsonRoute)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_NO_OPTIONS = ConnectorRunIn()  # a run without a body


@router.get("", summary="The workspace's connectors")
async def list_connectors(request: Request, workspace_id: WorkspaceId) -> ConnectorList:
    """The workspace's connectors (Freshsales or CSV) with their mappings and last run. Credentials
    are never shown."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_connectors(session, workspace_id)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a connector; its mappings are checked against the source's fields",
    responses=error_responses(
        conflict="The workspace has a connector of that name",
        upstream="The source could not be read to check the mappings (`source_unavailable`)",
    ),
)
async def create_connector(
    request: Request, workspace_id: WorkspaceId, body: ConnectorIn
) -> ConnectorOut:
    """Adds a connector that brings a third-party system's fields into account dimensions, account
    metrics or user dimensions. Mappings name fields by internal name (`cf_mrr`) and are checked
    against the source's catalog; a label is refused with the name it belongs to."""
    state = request.app.state
    return await service.create_connector(
        state.engine, workspace_id, body, secret_box=state.secret_box, imports=state.imports
    )


@router.get("/{connector_id}", summary="One connector")
async def get_connector(
    request: Request, workspace_id: WorkspaceId, connector_id: uuid.UUID
) -> ConnectorOut:
    """One connector with its mappings, filters and matching."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.describe(session, workspace_id, connector_id)


@router.delete(
    "/{connector_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a connector"
)
async def delete_connector(
    request: Request, workspace_id: WorkspaceId, connector_id: uuid.UUID
) -> Response:
    """Removes a connector and its runs; the values it wrote stay."""
    async with unit_of_work(request.app.state.engine) as session:
        await service.delete_connector(session, workspace_id, connector_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{connector_id}/file",
    summary="Upload the CSV file runs read (the body is the file, text/csv)",
    responses=error_responses(too_large="The file is over the upload limit (`payload_too_large`)"),
)
async def upload_file(
    request: Request, workspace_id: WorkspaceId, connector_id: uuid.UUID
) -> ConnectorOut:
    """Uploads the CSV file a CSV connector reads (UTF-8, a header row), replacing the previous one.
    The body is the file (`Content-Type: text/csv`)."""
    data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"the file is over {MAX_UPLOAD_BYTES} bytes")
    state = request.app.state
    return await service.upload(
        state.engine, workspace_id, connector_id, data, secret_box=state.secret_box
    )


@router.get(
    "/{connector_id}/fields",
    summary="Every field the source offers, to pick mappings from (JSON, or CSV)",
    responses=error_responses(upstream="The source could not be read (`source_unavailable`)"),
    response_model=Catalog,
)
async def list_fields(
    request: Request,
    workspace_id: WorkspaceId,
    connector_id: uuid.UUID,
    format: Literal["json", "csv"] = "json",
) -> Catalog | Response:
    """The source's field catalog: every field by internal name, label, type, and standard or
    custom, for accounts and users. `format=csv` answers it as CSV."""
    state = request.app.state
    found = await service.catalog(
        state.engine, workspace_id, connector_id, secret_box=state.secret_box
    )
    if format == "csv":
        return Response(
            service.catalog_csv(found),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="fields-{connector_id}.csv"'},
        )
    return found


@router.post(
    "/{connector_id}/runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run now; answers once the run is recorded, follow it at GET …/runs/{run_id}",
    responses=error_responses(conflict="A run of this connector runs now (`run_in_progress`)"),
)
async def create_run(
    request: Request,
    workspace_id: WorkspaceId,
    connector_id: uuid.UUID,
    body: ConnectorRunIn = _NO_OPTIONS,
) -> ConnectorRunOut:
    """Starts a run now and answers 202 once it is recorded; follow it at `GET .../runs/{run_id}`.
    `full: true` pulls everything instead of what changed. 409 `run_in_progress` while one runs."""
    state = request.app.state
    sync = ConnectorSync(state.engine, state.secret_box, timezone=state.timezone)
    return await sync.start(
        workspace_id,
        connector_id,
        trigger="api",
        full=body.full,
        tasks=state.background_tasks,
    )


@router.get("/{connector_id}/runs", summary="The latest runs, newest first")
async def list_runs(
    request: Request,
    workspace_id: WorkspaceId,
    connector_id: uuid.UUID,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ConnectorRunList:
    """The connector's latest runs with their counts, newest first."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_runs(session, workspace_id, connector_id, limit=limit)


@router.get("/{connector_id}/runs/{run_id}", summary="One run, with its progress while it runs")
async def get_run(
    request: Request, workspace_id: WorkspaceId, connector_id: uuid.UUID, run_id: int
) -> ConnectorRunOut:
    """One run: its progress while it runs, then its counts (fetched, filtered, matched, unmatched,
    updated, invalid, carried forward) and error."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_run(session, workspace_id, connector_id, run_id)


@router.get(
    "/{connector_id}/runs/{run_id}/issues",
    summary="The records a run could not use: unmatched ones, bad rows and values",
)
async def list_issues(
    request: Request,
    workspace_id: WorkspaceId,
    connector_id: uuid.UUID,
    run_id: int,
    kind: Literal["unmatched", "invalid"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> IssuePage:
    """The records a run could not use: `unmatched` (no entity, or several) and `invalid` (a bad row
    or a value that does not fit the field), with the Freshsales id or CSV line, the value and
    why. The list to clean up."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_issues(
            session, workspace_id, connector_id, run_id, kind=kind, cursor=cursor, limit=limit
        )
