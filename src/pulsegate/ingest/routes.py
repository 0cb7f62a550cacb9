"""The Segment-compatible HTTP routes: thin adapters from HTTP to `IngestService`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import APIRouter, Request, Response

from pulsegate.ingest.schemas import MODELS, SHORT_PATHS
from pulsegate.ingest.service import IngestOutcome, IngestRequest, IngestService, Kind

router = APIRouter(tags=["Segment tracking API"])

SUCCESS = b'{"success":true}'


def _service(request: Request) -> IngestService:
    service: IngestService = request.app.state.ingest
    return service


def _to_ingest_request(request: Request, *, kind: Kind, call_type: str | None) -> IngestRequest:
    headers = request.headers
    encoding = headers.get("content-encoding", "")
    return IngestRequest(
        endpoint=request.url.path,
        kind=kind,
        call_type=call_type,
        body=request.stream(),
        gzipped="gzip" in encoding.lower(),
        authorization=headers.get("authorization"),
        write_key_header=headers.get("x-write-key"),
        write_key_query=request.query_params.get("writeKey"),
        signature=headers.get("x-signature"),
        origin=headers.get("origin"),
        client_ip=request.client.host if request.client else None,
    )


def _respond(outcome: IngestOutcome) -> Response:
    if outcome.rejected:
        body = orjson.dumps({"success": True, "rejected": outcome.rejected})
    else:
        body = SUCCESS
    response = Response(content=body, media_type="application/json")
    if outcome.allowed_origin:
        response.headers["Access-Control-Allow-Origin"] = outcome.allowed_origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"
    return response


def _endpoint(kind: Kind, call_type: str | None) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        ingest_request = _to_ingest_request(request, kind=kind, call_type=call_type)
        return _respond(await _service(request).ingest(ingest_request))

    return endpoint


for _type in MODELS:
    router.add_api_route(
        f"/v1/{_type}", _endpoint("single", _type), methods=["POST"], summary=f"Send a {_type}"
    )
for _letter, _type in SHORT_PATHS.items():
    router.add_api_route(
        f"/v1/{_letter}", _endpoint("single", _type), methods=["POST"], include_in_schema=False
    )
for _path in ("/v1/batch", "/v1/import", "/v1/b"):
    router.add_api_route(
        _path,
        _endpoint("batch", None),
        methods=["POST"],
        summary="Send a batch of messages",
        include_in_schema=_path == "/v1/batch",
    )
router.add_api_route(
    "/v1/webhook",
    _endpoint("webhook", None),
    methods=["POST"],
    summary="Receive Segment's Webhooks destination (one message, or an array when batched)",
)
