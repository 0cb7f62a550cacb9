"""Renders every error as the one envelope (see `pulsegate.errors`)."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulsegate.db.engine import is_unavailable
from pulsegate.errors import InvalidRequest, PulsegateError, ServiceUnavailable

log = structlog.get_logger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


def error_body(envelope: dict[str, Any], *, segment: bool) -> bytes:
    """The envelope as bytes; Segment routes add `"success": false`."""
    return orjson.dumps({"success": False, **envelope} if segment else envelope)


def as_domain_error(error: Exception) -> PulsegateError:
    """Any exception as the error the client sees: a database outage is a 503, not a 500."""
    if isinstance(error, PulsegateError):
        return error
    if is_unavailable(error):
        return ServiceUnavailable(
            "the database is unavailable; retry later", code="database_unavailable"
        )
    if isinstance(error, DataError):
        # What the client sent, PostgreSQL cannot hold or compare: NUL in a string, a number
        # beyond its column. Everything reaching the database went through the route's schema,
        # so the value came from the request.
        reason = str(error.orig).splitlines()[0] if error.orig else "invalid value"
        log.warning("http.value_refused_by_database", reason=reason)
        return InvalidRequest(
            f"a value cannot be stored or compared: {reason}", code="invalid_value"
        )
    log.exception("http.unhandled_error")
    return PulsegateError("an unexpected error occurred", code="internal_error", status_code=500)


def _render(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    segment = request.url.path.startswith("/v1/")
    return Response(
        content=error_body(body, segment=segment),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _domain_error(request: Request, error: Exception) -> Response:
    domain = as_domain_error(error)
    return _render(request, domain.status_code, domain.envelope(), domain.headers)


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
    return _render(request, InvalidRequest.status_code, body)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    body = {"code": code, "message": str(error.detail), "details": []}
    return _render(request, error.status_code, body, dict(error.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    """Database errors get a handler of their own although `Exception`'s would render them
    too: Starlette runs the `Exception` handler in its outermost middleware, which re-raises
    after answering, and the server then drops the keep-alive connection. A refusal must leave
    the connection usable; only a true internal error goes that way."""
    app.add_exception_handler(PulsegateError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for database_error in (DBAPIError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(database_error, _domain_error)
    app.add_exception_handler(Exception, _domain_error)
