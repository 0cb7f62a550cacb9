"""Operator endpoints: workspaces, their sources and API keys, and the audit log.

A workspace is addressed by its name or its id (scripts use names, the API gives ids), a
source by its name or id within its workspace, an API key by its id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pulsegate.api.auth import AdminOnly, actor
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.api.openapi import error_responses
from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.db.engine import unit_of_work
from pulsegate.workspaces import audit, keys, offboarding, service
from pulsegate.workspaces.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyPage,
    ApiKeyRotated,
    AuditEntryOut,
    AuditPage,
    Offboarded,
    Retention,
    Rotation,
    SourceCreate,
    SourceCreated,
    SourceOut,
    SourcePage,
    SourceUpdate,
    WorkspaceCreate,
    WorkspaceDetail,
    WorkspacePage,
    WorkspaceUpdate,
    WriteKeyRotated,
)

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[AdminOnly], route_class=StrictJsonRoute
)


@router.get("/workspaces", summary="Every workspace, by name")
async def list_workspaces(request: Request) -> WorkspacePage:
    """Every workspace with its id, name, rate limit and creation time, by name."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.list_workspaces(session)
    return WorkspacePage(items=[WorkspaceDetail.model_validate(w) for w in found])


@router.post(
    "/workspaces",
    status_code=status.HTTP_201_CREATED,
    summary="Create a workspace",
    responses=error_responses(conflict="A workspace of that name exists (`already_exists`)"),
)
async def create_workspace(request: Request, body: WorkspaceCreate) -> WorkspaceDetail:
    """Creates an empty workspace. Add a source (write key) and an API key to it next. 409
    `already_exists` when the name is taken."""
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await service.create_workspace(session, body.name, actor=actor(request))
        await session.refresh(workspace)
    return WorkspaceDetail.model_validate(workspace)


@router.get("/workspaces/{workspace}", summary="One workspace, by name or id")
async def get_workspace(request: Request, workspace: str) -> WorkspaceDetail:
    """One workspace, by its name or id, with its sources' and API keys' counts."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
    return WorkspaceDetail.model_validate(found)


@router.delete(
    "/workspaces/{workspace}",
    summary="Offboard a workspace: all its data, keys, archive objects and jobs are deleted",
)
async def offboard_workspace(request: Request, workspace: str) -> Offboarded:
    """Offboards the workspace: its sources are disabled and its keys revoked first, then its rows
    are deleted from every table that has a `workspace_id` (a partition at a time), then its
    archive objects, then the workspace. Answers the rows deleted per table. Other workspaces are
    untouched. Cannot be undone."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
    deleted = await offboarding.offboard(
        request.app.state.engine,
        found.id,
        store=request.app.state.archive_store,
        actor=actor(request),
    )
    return Offboarded(id=found.id, name=found.name, deleted=deleted)


@router.patch("/workspaces/{workspace}", summary="Set the workspace's default rate limit")
async def update_workspace(
    request: Request, workspace: str, body: WorkspaceUpdate
) -> WorkspaceDetail:
    """Sets the messages a second each of the workspace's sources may send, unless a source sets its
    own; null returns to `PULSEGATE_SOURCE_RATE_LIMIT`. Recorded in the audit log."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        await service.update_workspace(
            session, found, rate_limit=body.rate_limit_per_second, actor=actor(request)
        )
    return WorkspaceDetail.model_validate(found)


@router.get("/workspaces/{workspace}/retention", summary="The workspace's own retention")
async def get_retention(request: Request, workspace: str) -> Retention:
    """The workspace's own retention windows in days; null ones follow the global settings."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        return service.retention_of(found)


@router.put(
    "/workspaces/{workspace}/retention",
    summary="Set the workspace's own retention (its plan); null fields follow the global setting",
)
async def set_retention(request: Request, workspace: str, body: Retention) -> Retention:
    """Replaces the workspace's retention windows (its plan): the hot log, events, refused messages
    and deliveries. Longer than the global window, its rows of a dropped day are kept; shorter,
    its rows past the window are deleted by the next `retention` run."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        await service.set_retention(session, found, body, actor=actor(request))
        return service.retention_of(found)


@router.get("/workspaces/{workspace}/sources", summary="The workspace's sources (no keys)")
async def list_sources(request: Request, workspace: str) -> SourcePage:
    """The workspace's sources with their state, allowed origins and rate limit. Write keys are
    stored as hashes and never shown."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        sources = await service.list_sources(session, found)
    return SourcePage(items=[service.source_out(source) for source in sources])


@router.post(
    "/workspaces/{workspace}/sources",
    status_code=status.HTTP_201_CREATED,
    summary="Create a source; its write key is shown this once",
    responses=error_responses(conflict="The workspace has a source of that name"),
)
async def create_source(request: Request, workspace: str, body: SourceCreate) -> SourceCreated:
    """Creates a source and answers its write key, this once. A `webhook_secret` makes `/v1/webhook`
    require Segment's `X-Signature`; `allowed_origins` restricts browser calls."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        created = await service.create_source(
            session,
            workspace=found,
            name=body.name,
            actor=actor(request),
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


@router.patch(
    "/workspaces/{workspace}/sources/{source}",
    summary="Disable or enable a source, or set its rate limit; takes effect at once",
)
async def update_source(
    request: Request, workspace: str, source: str, body: SourceUpdate
) -> SourceOut:
    """Disables or enables a source, or sets its rate limit (messages a second; null: the
    workspace's). A disabled source's calls are refused with 403 `source_disabled` within
    milliseconds on every replica."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await keys.find_source(
            session, await service.find_workspace(session, workspace), source
        )
        await keys.update_source(
            session,
            found,
            actor=actor(request),
            enabled=body.enabled,
            rate_limit=body.rate_limit_per_second,
            clear_rate_limit="rate_limit_per_second" in body.model_fields_set,
        )
        return service.source_out(found)


@router.post(
    "/workspaces/{workspace}/sources/{source}/rotate",
    summary="A new write key; the current one works for the grace period",
)
async def rotate_write_key(
    request: Request, workspace: str, source: str, body: Rotation
) -> WriteKeyRotated:
    """Issues a new write key; the current one keeps working for `grace_seconds` (to the second), so
    SDKs can be redeployed. A source never has more than two working keys."""
    return await _rotate_write_key(request, workspace, source, body.grace_seconds)


@router.post(
    "/workspaces/{workspace}/sources/{source}/revoke",
    summary="Stop the source's write keys at once, and issue a new one",
)
async def revoke_write_key(request: Request, workspace: str, source: str) -> WriteKeyRotated:
    """Stops every write key of the source at once (on every replica) and answers a new one, for a
    key that leaked."""
    return await _rotate_write_key(request, workspace, source, 0)


async def _rotate_write_key(
    request: Request, workspace: str, source: str, grace_seconds: int
) -> WriteKeyRotated:
    async with unit_of_work(request.app.state.engine) as session:
        found = await keys.find_source(
            session, await service.find_workspace(session, workspace), source
        )
        rotated = await keys.rotate_write_key(
            session, found, actor=actor(request), grace=timedelta(seconds=grace_seconds)
        )
        return WriteKeyRotated(
            source=service.source_out(found),
            write_key=rotated.secret,
            previous_key_expires_at=rotated.previous_expires_at,
        )


@router.get("/workspaces/{workspace}/api-keys", summary="The workspace's API keys (no secrets)")
async def list_api_keys(request: Request, workspace: str) -> ApiKeyPage:
    """The workspace's API keys with their names, creation, expiry and revocation times. Secrets are
    stored as hashes and never shown."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        listed = await service.list_api_keys(session, found)
    return ApiKeyPage(items=[service.api_key_out(key) for key in listed])


@router.post(
    "/workspaces/{workspace}/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key; its secret is shown this once",
)
async def create_api_key(request: Request, workspace: str, body: ApiKeyCreate) -> ApiKeyCreated:
    """Creates an API key for the REST API and the console, and answers its secret, this once."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        created = await service.create_api_key(
            session, workspace=found, name=body.name, actor=actor(request)
        )
    key = created.api_key
    return ApiKeyCreated(
        id=key.id, workspace_id=key.workspace_id, name=key.name, api_key=created.secret
    )


@router.post(
    "/workspaces/{workspace}/api-keys/{key_id}/rotate",
    summary="A new API key of the same name; the replaced one works for the grace period",
)
async def rotate_api_key(
    request: Request, workspace: str, key_id: str, body: Rotation
) -> ApiKeyRotated:
    """Issues a new API key of the same name; the replaced one keeps working for `grace_seconds`."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.find_workspace(session, workspace)
        key = await keys.find_api_key(session, found, key_id)
        replacement, rotated = await keys.rotate_api_key(
            session, key, actor=actor(request), grace=timedelta(seconds=body.grace_seconds)
        )
        return ApiKeyRotated(
            id=replacement.id,
            workspace_id=replacement.workspace_id,
            name=replacement.name,
            api_key=rotated.secret,
            previous_key_expires_at=rotated.previous_expires_at,
        )


@router.post(
    "/workspaces/{workspace}/api-keys/{key_id}/revoke",
    summary="Refuse the API key from now on, on every replica",
)
async def revoke_api_key(request: Request, workspace: str, key_id: str) -> ApiKeyOut:
    """Refuses the API key from the next request on, on every replica; console sessions signed in
    with it end too."""
    async with unit_of_work(request.app.state.engine) as session:
        key = await keys.find_api_key(
            session, await service.find_workspace(session, workspace), key_id
        )
        await keys.revoke_api_key(session, key, actor=actor(request))
        return service.api_key_out(key)


@router.get("/audit-log", summary="Administrative actions, newest first")
async def list_audit_log(
    request: Request,
    workspace: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Who did what: every administrative action (keys created, rotated or revoked, sources
    disabled, retention and rate limits, erasures, offboarding) with its actor and time, newest
    first. Never a secret or personal data."""
    async with unit_of_work(request.app.state.engine) as session:
        workspace_id = (await service.find_workspace(session, workspace)).id if workspace else None
        entries = await audit.list_entries(
            session,
            workspace_id=workspace_id,
            before_id=decode_id_cursor(cursor) if cursor else None,
            limit=limit + 1,
        )
    page = entries[:limit]
    return AuditPage(
        items=[AuditEntryOut.model_validate(entry, from_attributes=True) for entry in page],
        next_cursor=encode_id_cursor(page[-1].id) if len(entries) > limit else None,
    )
