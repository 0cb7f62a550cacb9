"""The outermost layer of every request: its id, its log line and its latency metric.

Pure ASGI (cheaper than BaseHTTPMiddleware on the ingest hot path). A request id comes from
the caller's X-Request-ID when it sends a short one; otherwise it is numbered from a
per-process counter, cheaper than a UUID per request. It is set as `request_id` for every
log line of the request (pulsegate.logging.REQUEST_ID) and returned as X-Request-ID. The log
line has the method, the path (never the query string, which may carry a write key), the
status and the duration; bodies and headers are never logged.
"""

from __future__ import annotations

import itertools
import os
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pulsegate.ingest.paths import ROUTES
from pulsegate.logging import REQUEST_ID
from pulsegate.operations.metrics import Metrics

log = structlog.get_logger("pulsegate.http")

_PREFIX = os.urandom(4).hex()
_numbers = itertools.count(1)


def route_of(scope: Scope) -> str:
    """The route template (bounded label values), not the path with its ids."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    path = scope["path"].rstrip("/")
    return path if path in ROUTES else "unmatched"


class RequestLog:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_id(scope) or f"{_PREFIX}-{next(_numbers):x}"
        token = REQUEST_ID.set(request_id)
        header = (b"x-request-id", request_id.encode("latin-1"))
        status = 500  # what the client gets when the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            self.metrics.request_done(scope["method"], route, status, seconds)
            log.info(
                "http.request",
                method=scope["method"],
                # A path that holds a secret (the analytics.js settings name the write key)
                # is logged as its route template.
                path=route if "{write_key}" in route else scope["path"],
                route=route,
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            REQUEST_ID.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if 0 < len(text) <= 128 else None
    return None
