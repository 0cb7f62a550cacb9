"""The Segment-compatible HTTP surface, served as plain ASGI.

Segment's tracking API is a fixed external protocol (`/v1/track` … `/v1/batch`, the
analytics.js one-letter paths, `/v1/webhook`), and it is the hot path: every SDK call lands
here. FastAPI's per-route machinery (dependency solving, response wrapping, exception layers)
cost more CPU than the ingest work itself, so these paths are answered by this middleware,
which sits inside the request log (api/middleware.py: request id, log line, latency) and hands
every other path to FastAPI. It stays thin: translate the request, call
`IngestService.ingest`, shape the answer.

CORS: a preflight cannot name its source (the write key travels in the body or the
Authorization header, neither of which a preflight carries), so it is answered permissively;
the POST is where a source's `allowed_origins` is enforced (403 `origin_not_allowed`). A source
without an allow-list answers `Access-Control-Allow-Origin: *` without credentials; one with it
echoes the allowed origin with credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs

import orjson
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from pulsegate.api.errors import as_domain_error, error_body
from pulsegate.ingest.paths import ROUTES, Kind
from pulsegate.ingest.requests import IngestOutcome, IngestRequest
from pulsegate.ingest.service import IngestService

SUCCESS = b'{"success":true}'
ALLOWED_HEADERS = b"content-type, authorization, x-retry-count, x-write-key, x-signature"


_WANTED_HEADERS = {
    b"authorization",
    b"content-encoding",
    b"x-write-key",
    b"x-signature",
    b"origin",
}


class ClientDisconnected(Exception):
    pass


class SegmentIngress:
    """Answers the Segment routes; passes every other request to the wrapped app."""

    def __init__(self, app: ASGIApp, *, service_holder: State) -> None:
        self.app = app
        # `app.state`: the service is built in the lifespan, after the middleware.
        self._holder = service_holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Old tools post to `/v1/import/`: a trailing slash names the same route.
        route = ROUTES.get(scope["path"].rstrip("/")) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method == "POST":
            await self._ingest(scope, receive, send, kind=route[0], call_type=route[1])
        elif method == "OPTIONS":
            await _preflight(scope, send)
        else:
            await _send(
                send,
                405,
                error_body(_METHOD_NOT_ALLOWED, segment=True),
                [(b"allow", b"POST, OPTIONS")],
            )

    async def _ingest(
        self, scope: Scope, receive: Receive, send: Send, *, kind: Kind, call_type: str | None
    ) -> None:
        service: IngestService = self._holder.ingest
        headers = _headers(scope)
        query = scope.get("query_string", b"")
        client = scope.get("client")
        request = IngestRequest(
            endpoint=scope["path"].rstrip("/"),
            kind=kind,
            call_type=call_type,
            body=_body(receive),
            gzipped=b"gzip" in headers.get(b"content-encoding", b"").lower(),
            authorization=_text(headers.get(b"authorization")),
            write_key_header=_text(headers.get(b"x-write-key")),
            write_key_query=_query_write_key(query) if b"writeKey=" in query else None,
            signature=_text(headers.get(b"x-signature")),
            origin=_text(headers.get(b"origin")),
            client_ip=client[0] if client else None,
        )
        try:
            outcome = await service.ingest(request)
        except ClientDisconnected:
            return
        except Exception as error:
            domain = as_domain_error(error)
            extra = [(k.lower().encode(), v.encode()) for k, v in domain.headers.items()]
            body = error_body(domain.envelope(), segment=True)
            await _send(send, domain.status_code, body, [*_ANY_ORIGIN, *extra])
            return
        await _send(send, 200, _success_body(outcome), _cors_headers(outcome))


_METHOD_NOT_ALLOWED = {
    "code": "method_not_allowed",
    "message": "Segment routes accept POST (and OPTIONS for CORS)",
    "details": [],
}
_ANY_ORIGIN = [(b"access-control-allow-origin", b"*")]


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name: value for name, value in scope["headers"] if name in _WANTED_HEADERS}


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _query_write_key(query: bytes) -> str | None:
    values = parse_qs(query.decode("latin-1")).get("writeKey")
    return values[0] if values else None


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _success_body(outcome: IngestOutcome) -> bytes:
    if outcome.rejected:
        return orjson.dumps({"success": True, "rejected": outcome.rejected})
    return SUCCESS


def _cors_headers(outcome: IngestOutcome) -> list[tuple[bytes, bytes]]:
    if outcome.allowed_origin is None:
        return _ANY_ORIGIN
    return [
        (b"access-control-allow-origin", outcome.allowed_origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


async def _preflight(scope: Scope, send: Send) -> None:
    origin = next((value for name, value in scope["headers"] if name == b"origin"), None)
    headers = [
        (b"access-control-allow-methods", b"POST, OPTIONS"),
        (b"access-control-allow-headers", ALLOWED_HEADERS),
        (b"access-control-max-age", b"600"),
    ]
    if origin:
        headers += [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
    else:
        headers += _ANY_ORIGIN
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
