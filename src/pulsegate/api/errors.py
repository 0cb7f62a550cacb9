"""Renders every error as the one envelope (see `pulsegate.errors`)."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulsegate.db.engine import is_unavailable
from pulsegate.errors import PulsegateError, ServiceUnavailable

log = structlog.get_logger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def _render(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if request.url.path.startswith("/v1/"):
        body = {"success": False, **body}
    return Response(
        content=orjson.dumps(body), status_code=status, media_type="application/json",
        headers=headers,
    )  # fmt: skip


async def _domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, PulsegateError)
    return _render(request, error.status_code, error.envelope(), error.headers)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    details = [
        {
            "field": ".".join(str(p) for p in item["loc"]),
            "code": item["type"],
            "message": item["msg"],
        }
        for item in error.errors()
    ]
    body = {"code": "invalid_request", "message": "the request is not valid", "details": details}
    return _render(request, 422, body)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    body = {"code": code, "message": str(error.detail), "details": []}
    return _render(request, error.status_code, body, dict(error.headers or {}))


async def _unexpected_error(request: Request, error: Exception) -> Response:
    if is_unavailable(error):
        unavailable = ServiceUnavailable("the database is unavailable; retry later")
        return await _domain_error(request, unavailable)
    log.exception("http.unhandled_error", path=request.url.path)
    body = {"code": "internal_error", "message": "an unexpected error occurred", "details": []}
    return _render(request, 500, body)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PulsegateError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
