"""The settings analytics.js fetches before it sends anything.

analytics.js loads `{cdnURL}/v1/projects/{writeKey}/settings` and sends its calls to the
`apiHost` named under `integrations["Segment.io"]`. Served here, a page needs only
`AnalyticsBrowser.load({writeKey, cdnURL: "https://gateway.example.com"})` (or the snippet
with its CDN host swapped), and the SDK posts to this gateway with nothing else configured.

The answer names no destinations, so the SDK loads no device-mode code, and sets the SDK's
own telemetry sample rate to 0, so it posts nothing to Segment. It reveals nothing the page
does not already hold: the write key is in the page's source.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from pulsegate.errors import Forbidden, NotFound
from pulsegate.ingest.auth import SourceDirectory

router = APIRouter(tags=["segment"])


def browser_settings(write_key: str, *, api_host: str, protocol: str) -> dict[str, Any]:
    """The subset of Segment's CDN settings that analytics.js reads."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": True, "integrations": {}}},
            "identify": {"__default": {"enabled": True}},
            "group": {"__default": {"enabled": True}},
        },
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


@router.get(
    "/v1/projects/{write_key}/settings",
    summary="analytics.js settings: send this write key's calls to this gateway",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": browser_settings(
                        "wk_3JkP9sXq2VbN7cL5mT1yR8dF4gH6zW0a",
                        api_host="gateway.example.com/v1",
                        protocol="https",
                    )
                }
            }
        }
    },
)
async def project_settings(write_key: str, request: Request) -> Response:
    """What analytics.js loads before it sends anything: settings naming this gateway as the API
    host of the write key's calls, no device-mode destinations and no telemetry. 404
    `invalid_write_key` for an unknown key. Logged by its route template, never its path."""
    sources: SourceDirectory = request.app.state.sources
    source = await sources.find(write_key)
    if source is None:
        raise NotFound("no source has this write key", code="invalid_write_key")
    if not source.enabled:
        raise Forbidden("this source is disabled", code="source_disabled")
    settings = browser_settings(
        write_key, api_host=f"{request.url.netloc}/v1", protocol=request.url.scheme
    )
    # A GET with no custom header is not preflighted; the answer must still allow the page's
    # origin to read it.
    return JSONResponse(
        settings,
        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"},
    )
