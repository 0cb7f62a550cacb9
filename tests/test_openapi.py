"""The OpenAPI description at /docs: every request body comes with examples that are valid."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import httpx
from pydantic import BaseModel

import pulsegate


def _schema_models() -> dict[str, type[BaseModel]]:
    """Every pydantic model of a feature's `schemas` module, by the name OpenAPI gives it."""
    models: dict[str, type[BaseModel]] = {}
    for module_info in pkgutil.walk_packages(pulsegate.__path__, "pulsegate."):
        if module_info.name.endswith(".schemas"):
            module = importlib.import_module(module_info.name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, BaseModel):
                    models.setdefault(value.__name__, value)
    return models


async def test_every_request_body_has_examples_its_model_accepts(
    client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    models = _schema_models()
    bodies = {
        f"{method.upper()} {path}": operation["requestBody"]["content"]["application/json"]
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert len(bodies) >= 10  # admin creates, upserts, settings, fields, metrics

    for route, media in bodies.items():
        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
        examples = schemas[name].get("examples")
        assert examples, f"{route}: {name} has no examples"
        for example in examples:
            models[name].model_validate(example)  # raises if the example is wrong


async def test_the_description_has_the_real_errors_and_the_security_schemes(
    client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {"WorkspaceApiKey", "AdminToken"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    envelope = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            assert "422" not in operation["responses"], route
            if path.startswith(("/api/v1", "/admin")):
                [scheme] = operation["security"]
                expected = "WorkspaceApiKey" if path.startswith("/api/v1") else "AdminToken"
                assert list(scheme) == [expected], route
                unauthorized = operation["responses"]["401"]["content"]["application/json"]
                assert unauthorized["schema"] == envelope, route
            if "{" in path:
                assert "404" in operation["responses"], route
