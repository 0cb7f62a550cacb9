"""A Freshsales emulator: the part of the Freshsales API that pulsegate calls, on a local port.

There is no Freshsales sandbox here, so tests (and anyone trying forwarding locally) talk over
real HTTP to this app instead:

    python -m pulsegate.freshsales.emulator --port 9100 --api-key test-key

It answers under both prefixes, `/crm/sales/api/` (Freshworks CRM, `*.myfreshworks.com`) and
`/api/` (Freshsales Classic, `*.freshsales.io`), with what reference/freshsales.md records:
- `Authorization: Token token=<key>`; a wrong key is 401 with a top-level `message`;
- upserts of contacts (by `emails`, with `include=sales_accounts`), sales accounts (by
  `name`) and deals; creating deals and sales activities; the selectors; field settings;
  views with pagination; filtered search;
- validation errors as `{"errors": {"code": 400, "message": ["..."]}}`;
- a per-minute and a per-hour request limit per account (400 and 1,000 by default) answering
  429 with `Retry-After` and `X-RateLimit-*` headers.

Routes under `/_emulator/` drive it: the requests it received, fault switches (the next N
requests answer a 5xx, or every answer waits), limits, and a clock that tests may move.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from pulsegate.freshsales.emulator_data import (
    DEFAULT_FIELDS,
    ENTITIES,
    LIFECYCLE_STAGES,
    REQUIRED_ACTIVITY,
    SALES_ACTIVITY_TYPES,
)


@dataclass
class Faults:
    fail_next: int = 0  # this many requests answer `fail_status`
    fail_status: int = 503
    delay_seconds: float = 0.0  # every answer waits this long


@dataclass
class EmulatorState:
    """Everything the emulator holds; tests read and change it through `/_emulator/`."""

    api_key: str = "test-key"
    per_minute: int = 400
    per_hour: int = 1000
    clock: Callable[[], float] = time.time
    clock_offset: float = 0.0
    faults: Faults = field(default_factory=Faults)
    requests: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in (*ENTITIES, "sales_activities")}
    )
    fields: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [dict(f) for f in v] for k, v in DEFAULT_FIELDS.items()}
    )
    sales_activity_types: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(t) for t in SALES_ACTIVITY_TYPES]
    )
    lifecycle_stages: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(s) for s in LIFECYCLE_STAGES]
    )
    answered: list[float] = field(default_factory=list)  # times of counted requests
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(70054866600))

    def now(self) -> float:
        return self.clock() + self.clock_offset


class ApiError(Exception):
    def __init__(self, status: int, messages: list[str]) -> None:
        super().__init__(messages)
        self.status = status
        self.messages = messages


def _error(status: int, *messages: str) -> JSONResponse:
    return JSONResponse({"errors": {"code": status, "message": list(messages)}}, status)


def create_emulator(state: EmulatorState | None = None) -> FastAPI:
    state = state or EmulatorState()
    app = FastAPI(title="Freshsales emulator")
    app.state.emulator = state

    @app.middleware("http")
    async def gatekeeper(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/_emulator"):
            return await call_next(request)
        body = await request.body()
        entry = {
            "method": request.method, "path": request.url.path,
            "query": dict(request.query_params), "headers": dict(request.headers),
            "body": _json_or_none(body), "at": state.now(),
        }  # fmt: skip
        state.requests.append(entry)
        response = await _answer(request, call_next)
        entry["status"] = response.status_code
        return response

    async def _answer(request: Request, call_next: Any) -> Any:
        if state.faults.delay_seconds:
            await asyncio.sleep(state.faults.delay_seconds)
        if request.headers.get("authorization") != f"Token token={state.api_key}":
            return JSONResponse({"login": "failed", "message": "Incorrect or expired API key"}, 401)
        limited = _rate_limit(state)
        if limited is not None:
            return limited
        if state.faults.fail_next > 0:
            state.faults.fail_next -= 1
            return JSONResponse({"message": "Service temporarily unavailable"},
                                state.faults.fail_status)  # fmt: skip
        response = await call_next(request)
        response.headers.update(_limit_headers(state))
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return _error(error.status, *error.messages)

    for prefix in ("/crm/sales/api", "/api"):
        app.include_router(_api_router(state), prefix=prefix)
    app.include_router(_control_router(state), prefix="/_emulator")
    return app


def _json_or_none(body: bytes) -> Any:
    import json

    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode(errors="replace")


def _rate_limit(state: EmulatorState) -> JSONResponse | None:
    """Counted per account; a refused request does not count."""
    now = state.now()
    state.answered = [t for t in state.answered if t > now - 3600]
    last_minute = [t for t in state.answered if t > now - 60]
    for limit, window, span in (
        (state.per_minute, last_minute, 60),
        (state.per_hour, state.answered, 3600),
    ):
        if len(window) >= limit:
            retry_after = max(1, int(window[0] + span - now) + 1)
            return JSONResponse(
                {"message": "Too many requests"}, 429,
                headers={"Retry-After": str(retry_after), **_limit_headers(state)},
            )  # fmt: skip
    state.answered.append(now)
    return None


def _limit_headers(state: EmulatorState) -> dict[str, str]:
    remaining = max(0, state.per_hour - len(state.answered))
    return {"X-RateLimit-Limit": str(state.per_hour), "X-RateLimit-Remaining": str(remaining)}


def _find(records: dict[int, dict[str, Any]], key: str, value: Any) -> dict[str, Any] | None:
    """The record whose `key` (an email among `emails`; a `cf_*` under `custom_field`) is
    `value`."""
    for record in records.values():
        stored = (
            record.get("custom_field", {}).get(key) if key.startswith("cf_") else record.get(key)
        )
        values = [e["value"] for e in stored] if key == "emails" and stored else [stored]
        if value in values:
            return record
    return None


def _check_custom_fields(state: EmulatorState, entity: str, payload: dict[str, Any]) -> None:
    known = {f["name"] for f in state.fields.get(entity, [])}
    unknown = sorted(set(payload.get("custom_field") or {}) - known)
    if unknown:
        raise ApiError(400, [f"Invalid custom field {name}" for name in unknown])


def _merge_contact(state: EmulatorState, record: dict[str, Any], payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if key == "emails":
            emails = value if isinstance(value, list) else [value]
            record["emails"] = [
                {"id": next(state.ids), "value": email, "is_primary": n == 0, "label": None}
                for n, email in enumerate(emails)
            ]
            record["email"] = emails[0] if emails else None
        elif key == "custom_field":
            record.setdefault("custom_field", {}).update(value or {})
        elif key == "sales_accounts":
            if sum(1 for link in value if link.get("is_primary")) > 1:
                raise ApiError(400, ["Only one primary sales account is allowed"])
            record["sales_accounts"] = [dict(link) for link in value]
        else:
            record[key] = value


def _contact_out(state: EmulatorState, record: dict[str, Any], include: str) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k != "sales_accounts"}
    out.setdefault("custom_field", {})
    if "sales_accounts" in include.split(","):
        accounts = state.records["sales_accounts"]
        out["sales_accounts"] = [
            {"partial": True, "id": link["id"], "name": accounts.get(link["id"], {}).get("name"),
             "avatar": None, "website": None, "last_contacted": None, "record_type_id": "1",
             "is_primary": bool(link.get("is_primary"))}
            for link in record.get("sales_accounts", [])
        ]  # fmt: skip
    return out


def _api_router(state: EmulatorState) -> APIRouter:
    router = APIRouter()

    async def upsert_person(entity: str, request: Request, include: str) -> JSONResponse:
        """Contacts, and Classic's leads (whose company and deal ride inside)."""
        root = ENTITIES[entity]
        body = await request.json()
        (key, value), = body["unique_identifier"].items()  # fmt: skip
        payload = body.get(root) or {}
        _check_custom_fields(state, entity, payload)
        people = state.records[entity]
        record = _find(people, key, value)
        created = record is None
        if record is None:
            record = {"id": next(state.ids)}
            _merge_contact(state, record, {key: value})
        _merge_contact(state, record, payload)
        people[record["id"]] = record
        return JSONResponse({root: _contact_out(state, record, include)}, 201 if created else 200)

    @router.post("/contacts/upsert")
    async def upsert_contact(request: Request, include: str = "") -> JSONResponse:
        return await upsert_person("contacts", request, include)

    @router.post("/leads/upsert")
    async def upsert_lead(request: Request) -> JSONResponse:
        return await upsert_person("leads", request, "")

    @router.post("/{entity}/upsert")
    async def upsert_other(entity: str, request: Request) -> JSONResponse:
        if entity not in ("sales_accounts", "deals"):
            raise ApiError(404, [f"no such resource {entity}"])
        body = await request.json()
        (key, value), = body["unique_identifier"].items()  # fmt: skip
        payload = body.get(ENTITIES[entity]) or {}
        _check_custom_fields(state, entity, payload)
        records = state.records[entity]
        record = _find(records, key, value)
        created = record is None
        if record is None:
            if entity == "sales_accounts" and not (payload.get("name") or key == "name"):
                raise ApiError(400, ["Name can't be blank"])
            record = {"id": next(state.ids)}
            if key.startswith("cf_"):
                record["custom_field"] = {key: value}
            else:
                record[key] = value
        record.update({k: v for k, v in payload.items() if k != "custom_field"})
        record.setdefault("custom_field", {}).update(payload.get("custom_field") or {})
        records[record["id"]] = record
        return JSONResponse({ENTITIES[entity]: record}, 201 if created else 200)

    @router.post("/deals")
    async def create_deal(request: Request) -> JSONResponse:
        payload = (await request.json()).get("deal") or {}
        missing = [name for name in ("name", "amount") if payload.get(name) in (None, "")]
        if missing:
            raise ApiError(400, [f"{name.capitalize()} can't be blank" for name in missing])
        _check_custom_fields(state, "deals", payload)
        record = {"id": next(state.ids), "custom_field": {}, **payload}
        state.records["deals"][record["id"]] = record
        return JSONResponse({"deal": record}, 201)

    @router.post("/sales_activities")
    async def create_sales_activity(request: Request) -> JSONResponse:
        payload = (await request.json()).get("sales_activity") or {}
        missing = [name for name in REQUIRED_ACTIVITY if payload.get(name) in (None, "")]
        if missing:
            raise ApiError(400, [f"{name} can't be blank" for name in missing])
        record = {"id": next(state.ids), **payload}
        state.records["sales_activities"][record["id"]] = record
        return JSONResponse({"sales_activity": record}, 201)

    @router.get("/selector/sales_activity_types")
    async def sales_activity_types() -> dict[str, Any]:
        return {"sales_activity_types": state.sales_activity_types}

    @router.get("/selector/lifecycle_stages")
    async def lifecycle_stages() -> dict[str, Any]:
        return {"lifecycle_stages": state.lifecycle_stages}

    @router.get("/settings/{entity}/fields")
    async def fields(entity: str) -> dict[str, Any]:
        if entity not in state.fields:
            raise ApiError(404, [f"no such resource {entity}"])
        return {"fields": [{"id": n + 1, **f} for n, f in enumerate(state.fields[entity])]}

    @router.get("/{entity}/filters")
    async def views(entity: str) -> dict[str, Any]:
        _known(entity)
        return {"filters": [{"id": 1, "name": f"All {entity.replace('_', ' ').title()}"}]}

    @router.get("/{entity}/view/{view_id}")
    async def view(entity: str, view_id: int, page: int = 1, per_page: int = 25) -> dict[str, Any]:
        _known(entity)
        return _page(entity, sorted(state.records[entity].values(), key=lambda r: r["id"]),
                     page, per_page)  # fmt: skip

    @router.post("/filtered_search/{entity}")
    async def filtered_search(entity: str, request: Request) -> dict[str, Any]:
        _known(entity)
        body = await request.json()
        found = [r for r in state.records[entity].values()
                 if all(_matches(r, rule) for rule in body.get("filter_rule", []))]  # fmt: skip
        found.sort(key=lambda r: (str(r.get(body.get("sort", "id"), "")), r["id"]))
        if body.get("sort_type") == "desc":
            found.reverse()
        return _page(entity, found, int(body.get("page", 1)), int(body.get("per_page", 25)))

    return router


def _known(entity: str) -> None:
    if entity not in ENTITIES:
        raise ApiError(404, [f"no such resource {entity}"])


def _page(entity: str, records: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    per_page = max(1, min(per_page, 100))
    total_pages = max(1, -(-len(records) // per_page))
    chunk = records[(page - 1) * per_page : page * per_page]
    return {entity: chunk, "meta": {"total_pages": total_pages, "total": len(records)}}


def _matches(record: dict[str, Any], rule: dict[str, Any]) -> bool:
    attribute, operator, wanted = rule["attribute"], rule["operator"], rule["value"]
    if attribute == "contact_email.email":
        value: Any = record.get("email")
    elif attribute.startswith("cf_"):
        value = record.get("custom_field", {}).get(attribute)
    else:
        value = record.get(attribute)
    if operator == "is_in":
        return value in (wanted if isinstance(wanted, list) else [wanted])
    if operator == "is":
        return bool(value == wanted)
    if operator == "contains":
        return str(wanted).lower() in str(value or "").lower()
    if operator in ("is_after", "is_before"):
        if value is None:
            return False
        return str(value) > str(wanted) if operator == "is_after" else str(value) < str(wanted)
    raise ApiError(400, [f"Invalid operator {operator}"])


def _control_router(state: EmulatorState) -> APIRouter:
    router = APIRouter()

    @router.get("/requests")
    async def requests() -> list[dict[str, Any]]:
        return state.requests

    @router.post("/faults")
    async def faults(request: Request) -> dict[str, Any]:
        for key, value in (await request.json()).items():
            setattr(state.faults, key, value)
        return state.faults.__dict__

    @router.post("/clock")
    async def clock(request: Request) -> dict[str, float]:
        state.clock_offset += float((await request.json())["advance_seconds"])
        return {"now": state.now()}

    @router.post("/limits")
    async def limits(request: Request) -> dict[str, int]:
        body = await request.json()
        state.per_minute = int(body.get("per_minute", state.per_minute))
        state.per_hour = int(body.get("per_hour", state.per_hour))
        return {"per_minute": state.per_minute, "per_hour": state.per_hour}

    return router


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the Freshsales emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()
    uvicorn.run(
        create_emulator(EmulatorState(api_key=args.api_key)), host=args.host, port=args.port
    )


if __name__ == "__main__":
    main()
