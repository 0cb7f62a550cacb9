"""JSON request bodies of the REST and admin API, parsed so that every number can be stored.

Python's `json` reads `1e400` as infinity and `NaN` as a float, and FastAPI passes them on:
a metric of `1e400` was stored, listed as `null`, and scored 100. The Segment routes refuse
the same numbers (orjson does not parse them). Every route built with `StrictJsonRoute`
refuses a number that is not finite, or an integer outside 64 bits, with `invalid_value`
before its handler runs, whatever field it is in (custom traits and metrics included).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from pulsegate.errors import InvalidRequest

_INT_RANGE = range(-(2**63), 2**64)


class UnstorableNumber(InvalidRequest):
    code = "invalid_value"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnstorableNumber(f"the number {text} is beyond the range of a double")
    return value


def _in_range(text: str) -> int:
    value = int(text)
    if value not in _INT_RANGE:
        raise UnstorableNumber(f"the integer {text} does not fit in 64 bits")
    return value


def _constant(name: str) -> float:
    raise UnstorableNumber(f"{name} is not a JSON number")


def loads(body: bytes) -> Any:
    """Parse a JSON body, refusing the numbers no route can store."""
    return json.loads(body, parse_float=_finite, parse_int=_in_range, parse_constant=_constant)


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is parsed by `loads` before FastAPI reads it.

    The body is parsed here rather than left to FastAPI, which turns any error but a syntax
    error into a bare "error parsing the body"; a syntax error is left to FastAPI's own
    `json_invalid` validation error.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        if self.body_field is None:  # no body, or one the route reads itself
            return handler

        async def strict(request: Request) -> Response:
            request = StrictJsonRequest(request.scope, request.receive)
            if "json" in request.headers.get("content-type", "") and await request.body():
                # Not JSON (or not UTF-8): FastAPI parses it again and answers its own error.
                with contextlib.suppress(ValueError):
                    await request.json()
            return await handler(request)

        return strict


# The models of the bodies that routes read themselves; `with_raw_body_schemas` publishes them.
_RAW_BODY_MODELS: dict[str, type[BaseModel]] = {}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for the JSON body of a route that reads its body itself (`openapi_extra`)."""
    _RAW_BODY_MODELS[model.__name__] = model
    schema = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    return {"requestBody": {"required": True, "content": {"application/json": schema}}}


def with_raw_body_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the schemas `request_body` refers to."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _RAW_BODY_MODELS.items():
        schemas.setdefault(
            name, model.model_json_schema(ref_template="#/components/schemas/{model}")
        )
    return openapi
