"""`/console/fields`: custom fields, tiers and lifecycle stages, and destinations and reverse
sync from the setup page, through the services their REST routes use."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from pulsegate.accounts import service as accounts_service
from pulsegate.accounts.schemas import Choice, ChoiceList
from pulsegate.connectors import service as connectors_service
from pulsegate.connectors.schemas import ConnectorIn
from pulsegate.console.routes import Changing, Console, form, page_context, render, workspace_of
from pulsegate.db.engine import unit_of_work
from pulsegate.destinations import service as destinations_service
from pulsegate.destinations.schemas import DestinationIn
from pulsegate.errors import InvalidRequest, PulsegateError
from pulsegate.fields import service as fields_service
from pulsegate.fields.schemas import FieldIn
from pulsegate.reverse_sync import service as reverse_sync_service
from pulsegate.reverse_sync.schemas import RuleIn

router = APIRouter(prefix="/console", include_in_schema=False)

CHOICES = {"tiers": "tier", "lifecycle-stages": "lifecycle_stage"}


def _problems(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]


@router.get("/fields")
async def fields_page(request: Request, console: Console) -> HTMLResponse:
    return await _render_fields(request, console, problems=[])


async def _render_fields(
    request: Request, console: Console, *, problems: list[str], status_code: int = 200
) -> HTMLResponse:
    context = await page_context(request, console)
    workspace_id = workspace_of(console)
    async with unit_of_work(request.app.state.engine) as session:
        found = await fields_service.list_fields(session, workspace_id, None)
        choices = {
            path: [
                c.name
                for c in (await accounts_service.get_choices(session, workspace_id, kind)).items
            ]
            for path, kind in CHOICES.items()
        }
    return render(
        request,
        "fields.html",
        {**context, "fields": found.items, "choices": choices, "problems": problems},
        status_code=status_code,
    )


@router.post("/fields")
async def create_field(request: Request, console: Changing) -> Response:
    sent = await form(request)
    try:
        body = FieldIn.model_validate(
            {name: sent.get(name) for name in ("object", "kind", "key", "type") if sent.get(name)}
        )
        async with unit_of_work(request.app.state.engine) as session:
            await fields_service.create_field(session, workspace_of(console), body)
    except ValidationError as error:
        return await _render_fields(request, console, problems=_problems(error), status_code=400)
    except InvalidRequest as error:
        return await _render_fields(request, console, problems=[error.message], status_code=400)
    return RedirectResponse("/console/fields", status_code=303)


@router.post("/choices/{path}")
async def replace_choices(request: Request, console: Changing, path: str) -> Response:
    kind = CHOICES.get(path)
    if kind is None:
        return await _render_fields(request, console, problems=[f"no list {path}"], status_code=404)
    names = [line.strip() for line in (await form(request)).get("names", "").splitlines()]
    try:
        body = ChoiceList(items=[Choice(name=name) for name in names if name])
    except ValidationError as error:
        return await _render_fields(request, console, problems=_problems(error), status_code=400)
    async with unit_of_work(request.app.state.engine) as session:
        await accounts_service.replace_choices(session, workspace_of(console), kind, body)
    return RedirectResponse("/console/fields", status_code=303)


@router.post("/destinations")
async def create_destination(request: Request, console: Changing) -> Response:
    sent = await form(request)
    try:
        body = DestinationIn.model_validate(
            {"kind": "freshsales", **{k: sent.get(k, "") for k in ("name", "domain", "api_key")}}
        )
        async with unit_of_work(request.app.state.engine) as session:
            await destinations_service.create_destination(
                session, workspace_of(console), body, secret_box=request.app.state.secret_box
            )
    except ValidationError as error:
        return render(request, "problems.html", {"problems": _problems(error)}, status_code=400)
    except InvalidRequest as error:
        return render(request, "problems.html", {"problems": [error.message]}, status_code=400)
    return RedirectResponse("/console/setup", status_code=303)


@router.post("/connectors")
async def create_connector(request: Request, console: Changing) -> Response:
    """A connector from its JSON (as `POST /api/v1/connectors` takes it), checked the same way:
    its mappings against the source's fields."""
    state = request.app.state
    try:
        body = ConnectorIn.model_validate_json((await form(request)).get("connector", ""))
        created = await connectors_service.create_connector(
            state.engine,
            workspace_of(console),
            body,
            secret_box=state.secret_box,
            imports=state.imports,
        )
    except ValidationError as error:
        return render(request, "problems.html", {"problems": _problems(error)}, status_code=400)
    except PulsegateError as error:
        return render(request, "problems.html", {"problems": [error.message]}, status_code=400)
    return RedirectResponse(f"/console/connectors/{created.id}", status_code=303)


@router.post("/reverse-sync/rules")
async def create_rule(request: Request, console: Changing) -> Response:
    sent = await form(request)
    try:
        body = RuleIn.model_validate(
            {
                name: sent[name]
                for name in ("destination_id", "source", "key", "target", "field", "match_field")
                if sent.get(name)
            }
        )
        async with unit_of_work(request.app.state.engine) as session:
            await reverse_sync_service.create_rule(session, workspace_of(console), body)
    except ValidationError as error:
        return render(request, "problems.html", {"problems": _problems(error)}, status_code=400)
    except PulsegateError as error:
        return render(request, "problems.html", {"problems": [error.message]}, status_code=400)
    return RedirectResponse("/console/setup", status_code=303)


@router.post("/reverse-sync/runs")
async def run_reverse_sync(request: Request, console: Changing) -> RedirectResponse:
    """Push the changed values now; answers when the run ends (as the API does)."""
    pushes = reverse_sync_service.ReverseSync(
        request.app.state.engine, request.app.state.secret_box
    )
    run = await pushes.run(workspace_of(console), trigger="console")
    return RedirectResponse(f"/console/setup?pushed={run.id}", status_code=303)
