"""The baseline: a FastAPI app that parses the JSON body and answers `{"success": true}`.

It does what any HTTP receiver must (read the body, parse it, answer) and nothing pulsegate
adds (auth, validation, normalisation, a durable commit), so the ratio of the two throughputs
measures pulsegate's own cost.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request, Response

# Tuned like pulsegate's app (no OpenTelemetry checks), so the ratio compares like with like.
app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
SUCCESS = b'{"success":true}'


@app.post("/v1/track")
@app.post("/v1/batch")
async def receive(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(content=SUCCESS, media_type="application/json")
