"""The OpenAPI document at /openapi.json (and /docs, /redoc): every operation described, with
examples that fit their schemas, the real errors, the security schemes and the Segment routes."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import httpx
import jsonschema
from pydantic import BaseModel

import pulsegate
from tests.support.database import Rows
from tests.support.tenants import Tenant


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
        if name in models:  # the Segment routes' schemas are written as JSON Schema
            for example in examples:
                models[name].model_validate(example)  # raises if the example is wrong


async def test_the_description_has_the_real_errors_and_the_security_schemes(
    client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {
        "WorkspaceApiKey",
        "AdminToken",
        "WriteKey",
    }
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
            # Every error it documents is the envelope it sends.
            tracking = operation.get("security") == [{"WriteKey": []}]
            expected_error = "SegmentError" if tracking else "Error"
            for status, response in operation["responses"].items():
                if status >= "400":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": f"#/components/schemas/{expected_error}"}, route


def _example_of(media: dict[str, Any], schemas: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    if media.get("examples"):
        return next(iter(media["examples"].values()))["value"]
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return (schema.get("examples") or [None])[0]


async def test_every_operation_has_a_description_and_an_example(
    client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    lacking = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            route = f"{method.upper()} {path}"
            if not operation.get("description", "").strip():
                lacking.append(f"{route}: no description")
            for parameter in operation.get("parameters", []):
                if not parameter.get("description"):
                    lacking.append(f"{route}: parameter {parameter['name']} has no description")
            media = [
                content
                for part in (
                    operation.get("requestBody", {}),
                    *(r for status, r in operation["responses"].items() if status < "300"),
                )
                for content in part.get("content", {}).values()
            ]
            if not any(_example_of(content, schemas) is not None for content in media):
                no_body = {s for s in operation["responses"] if s < "300"} == {"204"}
                if not no_body:
                    lacking.append(f"{route}: no example of its request or its answer")
    assert lacking == []


async def test_every_schema_has_a_description_and_an_example_that_fits_it(
    client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert len(schemas) > 100
    wrong: dict[str, list[str]] = {}
    for name, schema in schemas.items():
        assert schema.get("description"), f"{name} has no description (its class docstring)"
        assert schema.get("examples"), f"{name} has no example (add its fields to VOCABULARY)"
        # A root that holds the components, so that their "#/components/..." refs resolve.
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        )
        for example in schema["examples"]:
            errors = [
                f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(example)
            ]
            if errors:
                wrong[name] = errors
    assert wrong == {}


async def test_the_segment_routes_are_described_with_examples_they_store(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    spec: dict[str, Any] = (await client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["WriteKey"]["scheme"] == "basic"
    for path in ("/v1/track", "/v1/t", "/v1/batch", "/v1/b", "/v1/import", "/v1/webhook"):
        operation = spec["paths"][path]["post"]
        assert operation["security"] == [{"WriteKey": []}], path
        assert {"200", "400", "401", "413", "429", "503"} <= set(operation["responses"]), path
        body = operation["requestBody"]["content"]
        assert {"application/json", "text/plain"} <= set(body), path

    # The examples are what the gateway accepts: each one, sent as documented, is stored.
    sent = 0
    for path in ("/v1/track", "/v1/identify", "/v1/group", "/v1/page", "/v1/screen", "/v1/alias"):
        example = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        response = await client.post(path, json=example["example"], auth=(tenant.write_key, ""))
        assert response.json() == {"success": True}, path
        sent += 1
    batch = spec["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["text/plain"]["example"]
    response = await client.post("/v1/batch", json=batch, auth=(tenant.write_key, ""))
    assert response.json() == {"success": True}
    sent += len(batch["batch"])
    # The track example and the batch's track share a messageId: stored once.
    assert len(rows.inbound(tenant.workspace_id)) == sent - 1


async def test_the_reference_pages_load_nothing_from_elsewhere(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        html = (await client.get(page)).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset}"
            response = await client.get(asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 500, asset
        assert "/openapi.json" in html
