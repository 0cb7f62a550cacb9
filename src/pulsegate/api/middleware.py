"""Pure ASGI middleware (cheaper than BaseHTTPMiddleware on the ingest hot path)."""

from __future__ import annotations

import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SEGMENT_PREFIX = "/v1/"
ALLOWED_HEADERS = "content-type, authorization, x-retry-count, x-write-key, x-signature"


class RequestIdMiddleware:
    """Binds `request_id` for every log line of a request and returns it as X-Request-ID."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id")
        request_id = incoming if incoming and len(incoming) <= 128 else uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


class SegmentCorsMiddleware:
    """CORS for the browser SDK on `/v1/…`.

    A preflight cannot name its source (the write key travels in the body or the Authorization
    header, neither of which a preflight carries), so it is answered permissively; the POST
    itself is where a source's `allowed_origins` is enforced (403 `origin_not_allowed`). A POST
    from a source without an allow-list gets `Access-Control-Allow-Origin: *` and no credentials;
    a source with one gets its origin echoed with credentials (set by the route).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(SEGMENT_PREFIX):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await self._preflight(scope, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "access-control-allow-origin" not in headers:
                    headers["Access-Control-Allow-Origin"] = "*"
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(scope: Scope, send: Send) -> None:
        origin = Headers(scope=scope).get("origin")
        headers = [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"content-length", b"0"),
        ]
        if origin:
            headers += [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-credentials", b"true"),
                (b"vary", b"Origin"),
            ]
        else:
            headers.append((b"access-control-allow-origin", b"*"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
