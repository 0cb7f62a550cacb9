"""`/console/setup`: sources and keys, destinations and their deliveries, connectors and their
runs, health scores, each with its "run now". Every action calls the service the REST or
admin API calls; every POST carries the CSRF token (console.routes.changing)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pulsegate.connectors import service as connectors_service
from pulsegate.connectors.sync import ConnectorSync
from pulsegate.console.routes import Changing, Console, form, page_context, render, workspace_of
from pulsegate.db.engine import unit_of_work
from pulsegate.destinations import service as destinations_service
from pulsegate.errors import Forbidden, PulsegateError
from pulsegate.health_scores import service as health_scores_service
from pulsegate.reverse_sync import service as reverse_sync_service
from pulsegate.workspaces import keys
from pulsegate.workspaces import service as workspaces_service

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/setup")
async def setup(request: Request, console: Console) -> HTMLResponse:
    context = await page_context(request, console)
    workspace_id = workspace_of(console)
    async with unit_of_work(request.app.state.engine) as session:
        destinations = await destinations_service.list_destinations(session, workspace_id)
        connectors = await connectors_service.list_connectors(session, workspace_id)
        runs = {
            c.id: (await connectors_service.list_runs(session, workspace_id, c.id, limit=5)).items
            for c in connectors.items
        }
        rules = await reverse_sync_service.list_rules(session, workspace_id)
        pushes = await reverse_sync_service.list_runs(session, workspace_id, limit=5)
        sources = []
        if console.is_admin:
            workspace = await workspaces_service.get_workspace(session, workspace_id)
            sources = [
                workspaces_service.source_out(s)
                for s in await workspaces_service.list_sources(session, workspace)
            ]
    return render(
        request,
        "setup.html",
        {
            **context,
            "destinations": destinations.items,
            "connectors": connectors.items,
            "runs": runs,
            "sources": sources,
            "rules": rules.items,
            "pushes": pushes.items,
            "scored": request.query_params.get("scored"),
            "pushed": request.query_params.get("pushed"),
        },
    )


@router.post("/health-scores/runs")
async def run_health_scores(request: Request, console: Changing) -> RedirectResponse:
    now = datetime.now(UTC)
    timezone: str = request.app.state.timezone
    async with unit_of_work(request.app.state.engine) as session:
        done = await health_scores_service.score_workspace(
            session,
            workspace_of(console),
            day=health_scores_service.today(timezone, now),
            timezone=timezone,
            now=now,
        )
    return RedirectResponse(f"/console/setup?scored={done.accounts_scored}", status_code=303)


@router.post("/connectors/{connector_id}/runs")
async def run_connector(
    request: Request, console: Changing, connector_id: uuid.UUID
) -> RedirectResponse:
    state = request.app.state
    sync = ConnectorSync(state.engine, state.secret_box, timezone=state.timezone)
    run = await sync.start(
        workspace_of(console),
        connector_id,
        trigger="console",
        full=(await form(request)).get("full") == "true",
        tasks=state.background_tasks,
    )
    return RedirectResponse(f"/console/connectors/{connector_id}/runs/{run.id}", status_code=303)


@router.get("/connectors/{connector_id}")
async def connector(request: Request, console: Console, connector_id: uuid.UUID) -> HTMLResponse:
    """Its mappings and the source's field catalog (read from the source, as the API does)."""
    context = await page_context(request, console)
    state = request.app.state
    async with unit_of_work(state.engine) as session:
        found = await connectors_service.get_connector(session, workspace_of(console), connector_id)
    try:
        catalog = (
            await connectors_service.catalog(
                state.engine, workspace_of(console), connector_id, secret_box=state.secret_box
            )
        ).items
        catalog_problem = None
    except PulsegateError as error:
        catalog, catalog_problem = [], error.message
    return render(
        request,
        "connector.html",
        {**context, "connector": found, "catalog": catalog, "catalog_problem": catalog_problem},
    )


@router.get("/connectors/{connector_id}/runs/{run_id}")
async def connector_run(
    request: Request, console: Console, connector_id: uuid.UUID, run_id: int
) -> HTMLResponse:
    """The run with its live counts; the progress part reloads itself each second (htmx)
    until the run has finished."""
    async with unit_of_work(request.app.state.engine) as session:
        run = await connectors_service.get_run(session, workspace_of(console), connector_id, run_id)
        issues = await connectors_service.list_issues(
            session, workspace_of(console), connector_id, run_id, kind=None, cursor=None, limit=200
        )
    fragment = "hx-request" in request.headers
    context = {} if fragment else await page_context(request, console)
    return render(
        request,
        "run_progress.html" if fragment else "connector_run.html",
        {**context, "run": run, "connector_id": connector_id, "issues": issues.items},
    )


@router.get("/destinations/{destination_id}")
async def deliveries(
    request: Request, console: Console, destination_id: uuid.UUID, status: str = ""
) -> HTMLResponse:
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        page = await destinations_service.list_deliveries(
            session,
            workspace_of(console),
            destination_id,
            status=status or None,
            cursor=None,
            limit=200,
        )
    return render(
        request,
        "deliveries.html",
        {**context, "deliveries": page.items, "destination_id": destination_id, "status": status},
    )


@router.post("/destinations/{destination_id}/deliveries/{delivery_id}/retry")
async def retry_delivery(
    request: Request, console: Changing, destination_id: uuid.UUID, delivery_id: int
) -> RedirectResponse:
    async with unit_of_work(request.app.state.engine) as session:
        await destinations_service.retry_delivery(
            session, workspace_of(console), destination_id, delivery_id
        )
    return RedirectResponse(f"/console/destinations/{destination_id}", status_code=303)


@router.post("/sources")
async def create_source(request: Request, console: Changing) -> HTMLResponse:
    """The operator's: a new source of the workspace; its write key is shown this once."""
    if not console.is_admin:
        raise Forbidden("sources are the operator's to create", code="admin_only")
    name = (await form(request)).get("name", "").strip()
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await workspaces_service.get_workspace(session, workspace_of(console))
        created = await workspaces_service.create_source(
            session,
            workspace=workspace,
            name=name,
            actor="console:admin",
            secret_box=request.app.state.secret_box,
        )
    return render(
        request,
        "rotated.html",
        {**context, "source_name": name, "write_key": created.write_key, "created": True},
    )


@router.post("/sources/{source_id}/rotate")
async def rotate_write_key(
    request: Request, console: Changing, source_id: uuid.UUID
) -> HTMLResponse:
    """The operator's: a new write key, shown this once; the old one works for the grace
    period chosen (hours)."""
    if not console.is_admin:
        raise Forbidden("keys are the operator's to rotate", code="admin_only")
    hours = float((await form(request)).get("grace_hours") or 24)
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await workspaces_service.get_workspace(session, workspace_of(console))
        source = await keys.find_source(session, workspace, str(source_id))
        rotated = await keys.rotate_write_key(
            session, source, actor="console:admin", grace=timedelta(hours=hours)
        )
        name = source.name
    return render(
        request,
        "rotated.html",
        {
            **context,
            "source_name": name,
            "write_key": rotated.secret,
            "expires_at": rotated.previous_expires_at,
        },
    )


@router.post("/sources/{source_id}/enabled")
async def set_source_enabled(
    request: Request, console: Changing, source_id: uuid.UUID
) -> RedirectResponse:
    if not console.is_admin:
        raise Forbidden("sources are the operator's to disable", code="admin_only")
    enabled = (await form(request)).get("enabled") == "true"
    async with unit_of_work(request.app.state.engine) as session:
        workspace = await workspaces_service.get_workspace(session, workspace_of(console))
        source = await keys.find_source(session, workspace, str(source_id))
        await keys.update_source(session, source, actor="console:admin", enabled=enabled)
    return RedirectResponse("/console/setup", status_code=303)
