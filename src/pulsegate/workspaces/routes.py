"""Operator endpoints: create workspaces, sources and workspace API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from pulsegate.api.auth import AdminOnly
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.workspaces import service
from pulsegate.workspaces.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    Retention,
    SourceCreate,
    SourceCreated,
    WorkspaceCreate,
    WorkspaceOut,
)

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminOnly], route_class=StrictJsonRoute
)


@router.post("/workspaces", status_code=status.HTTP_201_CREATED)
async def create_workspace(request: Request, body: WorkspaceCreate) -> WorkspaceOut:
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.create_workspace(session, body.name)
        await session.refresh(workspace)
    return WorkspaceOut.model_validate(workspace, from_attributes=True)


@router.get("/workspaces/{workspace_id}/retention", summary="The workspace's own retention")
async def get_retention(request: Request, workspace_id: uuid.UUID) -> Retention:
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.get_workspace(session, workspace_id)
        return service.retention_of(workspace)


@router.put(
    "/workspaces/{workspace_id}/retention",
    summary="Set the workspace's own retention (its plan); null fields follow the global setting",
)
async def set_retention(request: Request, workspace_id: uuid.UUID, body: Retention) -> Retention:
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.get_workspace(session, workspace_id)
        service.set_retention(workspace, body)
        return service.retention_of(workspace)


@router.post("/workspaces/{workspace_id}/sources", status_code=status.HTTP_201_CREATED)
async def create_source(
    request: Request, workspace_id: uuid.UUID, body: SourceCreate
) -> SourceCreated:
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.get_workspace(session, workspace_id)
        created = await service.create_source(
            session,
            workspace=workspace,
            name=body.name,
            secret_box=request.app.state.secret_box,
            webhook_secret=body.webhook_secret,
            allowed_origins=body.allowed_origins,
        )
    source = created.source
    return SourceCreated(
        id=source.id,
        workspace_id=source.workspace_id,
        name=source.name,
        write_key=created.write_key,
        webhook_secret_set=source.webhook_secret_encrypted is not None,
        allowed_origins=source.allowed_origins or [],
        enabled=source.enabled,
    )


@router.post("/workspaces/{workspace_id}/api-keys", status_code=status.HTTP_201_CREATED)
async def create_api_key(
    request: Request, workspace_id: uuid.UUID, body: ApiKeyCreate
) -> ApiKeyCreated:
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.get_workspace(session, workspace_id)
        created = await service.create_api_key(session, workspace=workspace, name=body.name)
    key = created.api_key
    return ApiKeyCreated(
        id=key.id, workspace_id=key.workspace_id, name=key.name, api_key=created.secret
    )
