"""`/console`: the web console, server-rendered (Jinja2) with htmx, SSE and uPlot.

Pages are HTML only and never in the OpenAPI description. Every page answers with a strict
Content-Security-Policy: scripts and styles only from the console's own static files, no
inline script. A page without a session redirects to the sign-in; a partial or the live
stream answers 401. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.templating import Jinja2Templates

from pulsegate.console import service
from pulsegate.console.session import (
    COOKIE,
    MAX_AGE_SECONDS,
    ConsoleSession,
    SessionSigner,
    csrf_matches,
)
from pulsegate.db.engine import unit_of_work
from pulsegate.errors import Forbidden, NotFound, PulsegateError
from pulsegate.health_scores import service as health_scores_service
from pulsegate.messages import service as messages_service
from pulsegate.operations import service as operations_service
from pulsegate.rejected import service as rejected_service
from pulsegate.workspaces import service as workspaces_service

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/console", include_in_schema=False)


class SignInRequired(PulsegateError):
    status_code = 401
    code = "sign_in_required"


def install_console_handlers(app: FastAPI) -> None:
    """A page without a session goes to the sign-in page; a partial or a stream gets 401."""

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, error: SignInRequired) -> Response:
        if (
            request.method == "GET"
            and "hx-request" not in request.headers
            and not (request.url.path.endswith("/stream"))
        ):
            return RedirectResponse("/console/sign-in", status_code=303)
        return JSONResponse(error.envelope(), status_code=401)


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        name,
        {"console": getattr(request.state, "console", None), **context},
        status_code=status_code,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


async def current(request: Request) -> ConsoleSession:
    """The signed-in session (with a workspace chosen), or SignInRequired."""
    cookie = request.cookies.get(COOKIE)
    signer: SessionSigner = request.app.state.console_signer
    console = signer.loads(cookie) if cookie else None
    if console is None:
        raise SignInRequired("sign in to the console")
    async with unit_of_work(request.app.state.engine) as session:
        if not await service.still_valid(session, console):
            raise SignInRequired("the key this session signed in with no longer works")
    request.state.console = console
    return console


async def changing(request: Request) -> ConsoleSession:
    """`current`, for a request that changes something: its CSRF token must match."""
    console = await current(request)
    sent = request.headers.get("x-csrf-token") or (await form(request)).get("csrf_token")
    if not csrf_matches(console, sent):
        raise Forbidden("this request did not come from the console", code="csrf_failed")
    return console


Console = Annotated[ConsoleSession, Depends(current)]
Changing = Annotated[ConsoleSession, Depends(changing)]


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the console's forms hold short text fields only)."""
    if not hasattr(request.state, "form"):
        body = (await request.body()).decode("utf-8", "replace")
        request.state.form = {key: values[-1] for key, values in parse_qs(body).items()}
    found: dict[str, str] = request.state.form
    return found


def workspace_of(console: ConsoleSession) -> uuid.UUID:
    if console.workspace_id is None:
        raise NotFound("no workspace exists yet; create one first")
    return console.workspace_id


def set_session(response: Response, request: Request, console: ConsoleSession) -> None:
    response.set_cookie(
        COOKIE,
        request.app.state.console_signer.dumps(console),
        max_age=MAX_AGE_SECONDS,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get("")
async def home() -> RedirectResponse:
    return RedirectResponse("/console/debugger", status_code=303)


@router.get("/sign-in")
async def sign_in_page(request: Request) -> HTMLResponse:
    return render(request, "sign_in.html", {"error": None})


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("sign in from the console's own page", code="csrf_failed")
    key = (await form(request)).get("key", "").strip()
    async with unit_of_work(request.app.state.engine) as session:
        console = await service.sign_in(
            session, key, configured_admin_token=request.app.state.admin_token
        )
    if console is None:
        return render(request, "sign_in.html", {"error": "That key is not valid."}, status_code=401)
    response = RedirectResponse("/console/debugger", status_code=303)
    set_session(response, request, console)
    return response


@router.post("/sign-out")
async def sign_out(console: Changing) -> Response:
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.post("/workspace")
async def switch_workspace(request: Request, console: Changing) -> Response:
    if not console.is_admin:
        raise Forbidden("only the operator switches workspaces", code="admin_only")
    async with unit_of_work(request.app.state.engine) as session:
        found = await workspaces_service.find_workspace(
            session, (await form(request)).get("workspace", "")
        )
    response = RedirectResponse("/console/debugger", status_code=303)
    set_session(response, request, console.with_workspace(found.id))
    return response


async def page_context(request: Request, console: ConsoleSession) -> dict[str, Any]:
    """What every page's frame shows: the workspace, and the switcher's list for the operator."""
    async with unit_of_work(request.app.state.engine) as session:
        listed = await workspaces_service.list_workspaces(session) if console.is_admin else []
        names = {w.id: w.name for w in listed}
        if console.workspace_id is not None and console.workspace_id not in names:
            found = await workspaces_service.get_workspace(session, console.workspace_id)
            names[found.id] = found.name
    return {
        "workspaces": listed,
        "workspace_name": names.get(console.workspace_id) if console.workspace_id else None,
    }


@router.get("/debugger")
async def debugger(request: Request, console: Console) -> HTMLResponse:
    context = await page_context(request, console)
    return render(
        request, "debugger.html", {**context, "shown_per_second": service.SHOWN_PER_TICK * 2}
    )


@router.get("/debugger/stream")
async def debugger_stream(request: Request, console: Console) -> StreamingResponse:
    """Server-Sent Events: every half second, what arrived since, as `message` events."""
    workspace_id = workspace_of(console)
    where = service.DebuggerFilter(
        type=request.query_params.get("type", ""),
        source=request.query_params.get("source", ""),
        user=request.query_params.get("user", ""),
        event=request.query_params.get("event", ""),
    )
    engine = request.app.state.engine
    async with unit_of_work(engine) as session:
        after_stored, after_refused = await service.debugger_start(session, workspace_id)

    async def events() -> AsyncIterator[str]:
        nonlocal after_stored, after_refused
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            async with unit_of_work(engine) as session:
                tick = await service.debugger_tick(
                    session,
                    workspace_id,
                    after_stored=after_stored,
                    after_refused=after_refused,
                    where=where,
                )
            after_stored, after_refused = tick.after_stored, tick.after_refused
            for item in tick.items:
                yield f"event: message\ndata: {json.dumps(item, default=str)}\n\n"
            if tick.skipped:
                yield f"event: skipped\ndata: {tick.skipped}\n\n"
            await asyncio.sleep(0.5)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/messages/{log_id}")
async def message_detail(request: Request, console: Console, log_id: int) -> HTMLResponse:
    async with unit_of_work(request.app.state.engine) as session:
        found = await messages_service.get_message(session, workspace_of(console), log_id)
    body = json.dumps(found.model_dump(mode="json"), indent=2)
    return render(
        request, "detail.html", {"title": f"{found.type} {found.message_id}", "body": body}
    )


@router.get("/refused/{rejected_id}")
async def refused_detail(request: Request, console: Console, rejected_id: int) -> HTMLResponse:
    async with unit_of_work(request.app.state.engine) as session:
        found = await rejected_service.get_rejected(session, workspace_of(console), rejected_id)
    body = json.dumps(found.model_dump(mode="json"), indent=2)
    return render(request, "detail.html", {"title": f"refused {rejected_id}", "body": body})


@router.get("/accounts")
async def accounts(
    request: Request, console: Console, q: str = "", sort: str = "name", metric: str = ""
) -> HTMLResponse:
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        metrics = await service.account_metrics(session, workspace_of(console))
        metric = metric if metric in metrics else (metrics[0] if metrics else "")
        found = await service.accounts_list(
            session, workspace_of(console), query=q, sort=sort, metric=metric
        )
    return render(
        request,
        "accounts.html",
        {**context, "accounts": found, "q": q, "sort": sort, "metric": metric, "metrics": metrics},
    )


@router.get("/users")
async def users(request: Request, console: Console, q: str = "") -> HTMLResponse:
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.users_list(session, workspace_of(console), query=q)
    return render(request, "users.html", {**context, "users": found, "q": q})


@router.get("/accounts/{account_id}")
async def account(request: Request, console: Console, account_id: str) -> HTMLResponse:
    context = await page_context(request, console)
    today = health_scores_service.today(request.app.state.timezone, datetime.now(UTC))
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.account_page(
            session,
            workspace_of(console),
            account_id,
            timezone=request.app.state.timezone,
            today=today,
        )
    charts = service.account_charts(found)
    return render(request, "account.html", {**context, **found, "charts": charts})


@router.get("/users/{user_id}")
async def user(request: Request, console: Console, user_id: str) -> HTMLResponse:
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.user_page(session, workspace_of(console), user_id)
    return render(request, "user.html", {**context, **found})


@router.get("/operations")
async def operations(request: Request, console: Console) -> HTMLResponse:
    if not console.is_admin:
        raise Forbidden("the operations page is the operator's", code="admin_only")
    context = await page_context(request, console)
    state = request.app.state
    async with unit_of_work(state.engine) as session:
        health = await operations_service.admin_health(
            session,
            job_names=list(state.job_runner.jobs),
            migration=state.migration_head,
            writer_pending=state.writer.pending_messages,
            hot_days=state.log_retention_days,
        )
    return render(request, "operations.html", {**context, "health": health})
