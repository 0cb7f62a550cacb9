"""A Freshsales emulator: the part of the Freshsales API that pulsegate calls, on a local port.

There is no Freshsales sandbox here, so tests (and anyone trying forwarding locally) talk over
real HTTP to this app instead:

    python -m freshsales_emulator --port 9100 --api-key test-key

It answers under both prefixes, `/crm/sales/api/` (Freshworks CRM, `*.myfreshworks.com`) and
`/api/` (Freshsales Classic, `*.freshsales.io`), with what reference/freshsales.md records:
- `Authorization: Token token=<key>`; a wrong key is 401 with a top-level `message`;
- upserts of contacts (by `emails`, with `include=sales_accounts`), sales accounts (by
  `name`) and deals; creating deals and sales activities; the selectors; field settings;
  saved views and filtered search, paged and sorted (`updated_at` compared as a moment);
  every write stamps `updated_at`;
- validation errors as `{"errors": {"code": 400, "message": ["..."]}}`;
- a per-minute and a per-hour request limit per account (400 and 1,000 by default) answering
  429 with `Retry-After` and `X-RateLimit-*` headers.

Routes under `/_emulator/` drive it: the requests it received, fault switches (the next N
requests, after M more answered normally, answer a 5xx or a 429; the next request to a path
is done but answered 504, as when an answer is lost; or every answer waits),
limits, a clock that tests may move, and records, fields and views to seed an account with.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from freshsales_emulator.data import ENTITIES, REQUIRED_ACTIVITY, EmulatorState
from freshsales_emulator.records import (
    ApiError,
    check_custom_fields,
    contact_out,
    find,
    known,
    matches,
    merge_contact,
    page_of,
    sort_records,
)


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
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": dict(request.headers),
            "body": _json_or_none(body),
            "at": state.now(),
        }
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
        if state.faults.fail_next > 0 and state.faults.fail_after > 0:
            state.faults.fail_after -= 1
        elif state.faults.fail_next > 0:
            state.faults.fail_next -= 1
            status = state.faults.fail_status
            if status == 429:
                return JSONResponse(
                    {"message": "Too many requests"},
                    429,
                    headers={"Retry-After": str(state.faults.retry_after)},
                )
            return JSONResponse({"message": "Service temporarily unavailable"}, status)
        response = await call_next(request)
        lost = state.faults.lose and request.url.path.endswith(state.faults.lose)
        if lost and response.status_code < 300:
            # Done, but the answer never arrives: what a proxy's timeout looks like.
            state.faults.lose = ""
            return JSONResponse({"message": "Gateway Timeout"}, 504)
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
                {"message": "Too many requests"},
                429,
                headers={"Retry-After": str(retry_after), **_limit_headers(state)},
            )
    state.answered.append(now)
    return None


def _limit_headers(state: EmulatorState) -> dict[str, str]:
    remaining = max(0, state.per_hour - len(state.answered))
    return {"X-RateLimit-Limit": str(state.per_hour), "X-RateLimit-Remaining": str(remaining)}


ENTITY_OF = {root: entity for entity, root in ENTITIES.items()}


def stamp(state: EmulatorState, record: dict[str, Any], created: bool) -> None:
    if created:
        record["created_at"] = state.stamp()
    record["updated_at"] = state.stamp()


def _api_router(state: EmulatorState) -> APIRouter:
    router = APIRouter()

    async def upsert_person(entity: str, request: Request, include: str) -> JSONResponse:
        """Contacts, and Classic's leads (whose company and deal ride inside)."""
        root = ENTITIES[entity]
        body = await request.json()
        ((key, value),) = body["unique_identifier"].items()
        payload = body.get(root) or {}
        check_custom_fields(state, entity, payload)
        people = state.records[entity]
        record = find(people, key, value)
        created = record is None
        if record is None:
            record = {"id": next(state.ids)}
            merge_contact(state, record, {key: value})
        merge_contact(state, record, payload)
        stamp(state, record, created)
        people[record["id"]] = record
        return JSONResponse({root: contact_out(state, record, include)}, 201 if created else 200)

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
        ((key, value),) = body["unique_identifier"].items()
        payload = body.get(ENTITIES[entity]) or {}
        check_custom_fields(state, entity, payload)
        records = state.records[entity]
        record = find(records, key, value)
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
        stamp(state, record, created)
        records[record["id"]] = record
        return JSONResponse({ENTITIES[entity]: record}, 201 if created else 200)

    @router.delete("/contacts/{contact_id}/forget")
    async def forget_contact(contact_id: int) -> JSONResponse:
        if state.records["contacts"].pop(contact_id, None) is None:
            raise ApiError(404, [f"no contact {contact_id}"])
        return JSONResponse({}, 200)

    @router.post("/deals")
    async def create_deal(request: Request) -> JSONResponse:
        payload = (await request.json()).get("deal") or {}
        missing = [name for name in ("name", "amount") if payload.get(name) in (None, "")]
        if missing:
            raise ApiError(400, [f"{name.capitalize()} can't be blank" for name in missing])
        check_custom_fields(state, "deals", payload)
        record = {"id": next(state.ids), "custom_field": {}, **payload}
        state.records["deals"][record["id"]] = record
        return JSONResponse({"deal": record}, 201)

    @router.put("/deals/{deal_id}")
    async def update_deal(deal_id: int, request: Request) -> JSONResponse:
        record = state.records["deals"].get(deal_id)
        if record is None:
            raise ApiError(404, [f"no deal {deal_id}"])
        payload = (await request.json()).get("deal") or {}
        check_custom_fields(state, "deals", payload)
        record.update({k: v for k, v in payload.items() if k != "custom_field"})
        record.setdefault("custom_field", {}).update(payload.get("custom_field") or {})
        return JSONResponse({"deal": record}, 200)

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
        known(entity)
        every = {"id": 1, "name": f"All {entity.replace('_', ' ').title()}"}
        return {
            "filters": [every] + [{"id": v["id"], "name": v["name"]} for v in state.views[entity]]
        }

    @router.get("/{entity}/view/{view_id}")
    async def view(
        entity: str,
        view_id: int,
        page: int = 1,
        per_page: int = 25,
        sort: str = "id",
        sort_type: str = "asc",
    ) -> dict[str, Any]:
        known(entity)
        rules = (
            []
            if view_id == 1
            else next((v["filter_rule"] for v in state.views[entity] if v["id"] == view_id), None)
        )
        if rules is None:
            raise ApiError(404, [f"no view {view_id}"])
        found = [r for r in state.records[entity].values() if all(matches(r, x) for x in rules)]
        return page_of(entity, sort_records(found, sort, sort_type), page, per_page)

    @router.post("/filtered_search/{entity}")
    async def filtered_search(entity: str, request: Request) -> dict[str, Any]:
        """By the singular name (`contact`, `sales_account`), paged by the query string."""
        if entity not in ENTITY_OF:
            raise ApiError(404, [f"no such resource {entity}"])
        body = await request.json()
        page = int(request.query_params.get("page", body.get("page", 1)))
        per_page = int(request.query_params.get("per_page", body.get("per_page", 25)))
        found = [
            r
            for r in state.records[ENTITY_OF[entity]].values()
            if all(matches(r, rule) for rule in body.get("filter_rule", []))
        ]
        found = sort_records(found, body.get("sort", "id"), body.get("sort_type", "asc"))
        return page_of(ENTITY_OF[entity], found, page, per_page)

    return router


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

    @router.post("/records/{entity}")
    async def put_records(entity: str, request: Request) -> list[int]:
        """Create records, or change those whose `id` is given; `updated_at` is now unless
        given."""
        known(entity)
        ids = []
        for given in (await request.json())["records"]:
            record = state.records[entity].get(given.get("id")) or {"id": next(state.ids)}
            custom = {**record.get("custom_field", {}), **given.get("custom_field", {})}
            record.update({**given, "custom_field": custom, "id": record["id"]})
            record.setdefault("created_at", state.stamp())
            record["updated_at"] = given.get("updated_at") or state.stamp()
            state.records[entity][record["id"]] = record
            ids.append(record["id"])
        return ids

    @router.post("/fields/{entity}")
    async def add_fields(entity: str, request: Request) -> int:
        state.fields.setdefault(entity, []).extend((await request.json())["fields"])
        return len(state.fields[entity])

    @router.post("/views/{entity}")
    async def add_view(entity: str, request: Request) -> dict[str, int]:
        known(entity)
        body = await request.json()
        view_id = 2 + len(state.views[entity])
        state.views[entity].append(
            {"id": view_id, "name": body["name"], "filter_rule": body["filter_rule"]}
        )
        return {"id": view_id}

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
