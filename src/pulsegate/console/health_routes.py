"""`/console/health-scores`: the configuration, validated as it is edited, with a preview of
one account's score under it; saved through the same service as `PUT /api/v1/health-scores/
config`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from pulsegate.console.routes import Changing, Console, form, page_context, render, workspace_of
from pulsegate.db.engine import unit_of_work
from pulsegate.errors import InvalidRequest, NotFound
from pulsegate.health_scores import service as health_scores_service
from pulsegate.health_scores.schemas import HealthScoreConfigIn

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/health-scores")
async def editor(request: Request, console: Console) -> HTMLResponse:
    context = await page_context(request, console)
    async with unit_of_work(request.app.state.engine) as session:
        config = await health_scores_service.get_config(session, workspace_of(console))
    draft = config.model_dump(mode="json", exclude={"version", "updated_at"})
    return render(
        request,
        "health_scores.html",
        {
            **context,
            "config": json.dumps(draft, indent=2),
            "version": config.version,
            "saved": request.query_params.get("saved"),
        },
    )


def _parse(text: str) -> tuple[HealthScoreConfigIn | None, list[str]]:
    try:
        return HealthScoreConfigIn.model_validate(json.loads(text)), []
    except json.JSONDecodeError as error:
        return None, [f"not JSON: {error.msg} (line {error.lineno}, column {error.colno})"]
    except ValidationError as error:
        return None, [
            f"{'.'.join(str(p) for p in e['loc']) or 'the configuration'}: {e['msg']}"
            for e in error.errors()
        ]


@router.post("/health-scores/check")
async def check(request: Request, console: Changing) -> HTMLResponse:
    """The editor's live check (htmx): the problems, or the preview of one account's score."""
    fields = await form(request)
    draft, problems = _parse(fields.get("config", ""))
    preview: dict[str, Any] | None = None
    account_id = fields.get("account", "").strip()
    if draft is not None:
        timezone: str = request.app.state.timezone
        async with unit_of_work(request.app.state.engine) as session:
            try:
                if account_id:
                    preview = await health_scores_service.preview_account(
                        session,
                        workspace_of(console),
                        account_id,
                        draft,
                        day=health_scores_service.today(timezone, datetime.now(UTC)),
                        timezone=timezone,
                    )
                else:
                    await health_scores_service.check_fields(session, workspace_of(console), draft)
            except (InvalidRequest, NotFound) as error:
                problems = [error.message]
    return render(request, "health_check.html", {"problems": problems, "preview": preview})


@router.post("/health-scores/config")
async def save(request: Request, console: Changing) -> Response:
    draft, problems = _parse((await form(request)).get("config", ""))
    if draft is not None:
        try:
            async with unit_of_work(request.app.state.engine) as session:
                saved = await health_scores_service.replace_config(
                    session, workspace_of(console), draft, now=datetime.now(UTC)
                )
            return RedirectResponse(
                f"/console/health-scores?saved={saved.version}", status_code=303
            )
        except InvalidRequest as error:
            problems = [error.message]
    context = await page_context(request, console)
    return render(
        request,
        "health_scores.html",
        {**context, "config": (await form(request)).get("config", ""), "problems": problems},
        status_code=400,
    )
