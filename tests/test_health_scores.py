"""Health scores through the REST API: configuration, runs, history, and the arithmetic.

Accounts and their values go in through the API (upserts, custom metrics, tracked events),
scores are computed by `POST /api/v1/health-scores/runs` for a given day, and read back from
`GET /api/v1/accounts/{id}/health`.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pulsegate.health_scores.schemas import Bands, Configuration
from pulsegate.health_scores.scoring import band, score_account, weighted_score
from pulsegate.reverse_sync.values import VALUES, Query
from tests.support.database import Rows
from tests.support.http import bearer, send, set_choices, wait_for_events
from tests.support.sessions import ACCOUNT, TIMELINE, sweep, wait_for_account
from tests.support.tenants import Tenant
from tests.support.waiting import settle

DAY = "2026-11-20"


def linear(low: float, high: float, direction: str = "higher_is_better") -> dict[str, Any]:
    return {"method": "linear", "min": low, "max": high, "direction": direction}


def metric(key: str, scoring: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"kind": "metric", "key": key, "scoring": scoring, **options}


def one_section(*measures: dict[str, Any], **bands: float) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sections": [{"name": "All", "weight": 1, "measures": list(measures)}]
    }
    if bands:
        config["bands"] = bands
    return config


async def define(
    client: httpx.AsyncClient, tenant: Tenant, kind: str, key: str, type_: str
) -> None:
    body = {"object": "account", "kind": kind, "key": key, "type": type_, "label": key}
    response = await client.post("/api/v1/fields", json=body, headers=bearer(tenant))
    assert response.status_code == 201, response.text


async def upsert(client: httpx.AsyncClient, tenant: Tenant, account_id: str, **fields: Any) -> None:
    body = {"name": account_id.title(), "created_at": "2024-01-01", **fields}
    response = await client.put(f"/api/v1/accounts/{account_id}", json=body, headers=bearer(tenant))
    assert response.status_code in (200, 202), response.text


async def record(
    client: httpx.AsyncClient, tenant: Tenant, key: str, values: dict[str, float], day: str = DAY
) -> None:
    items = [
        {"object": "account", "id": account, "key": key, "value": value, "date": day}
        for account, value in values.items()
    ]
    response = await client.post("/api/v1/metrics", json={"items": items}, headers=bearer(tenant))
    assert response.status_code in (200, 201, 202), response.text


async def configure(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> int:
    response = await client.put("/api/v1/health-scores/config", json=body, headers=bearer(tenant))
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    return version


async def run(client: httpx.AsyncClient, tenant: Tenant, day: str = DAY) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/health-scores/runs", json={"day": day}, headers=bearer(tenant)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def health(
    client: httpx.AsyncClient, tenant: Tenant, account_id: str, query: str = f"from={DAY}&to={DAY}"
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/accounts/{account_id}/health?{query}", headers=bearer(tenant)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_published_worked_example_gives_75(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """Sections scoring 83, 71, 78 and 54 with weights 7, 5, 8 and 3."""
    await upsert(client, tenant, "acme")
    sections = {"Adoption": (7, 83), "Support": (5, 71), "Value": (8, 78), "Sentiment": (3, 54)}
    for name, (_, value) in sections.items():
        await define(client, tenant, "metric", name.lower(), "number")
        await record(client, tenant, name.lower(), {"acme": value})
    await settle(client, tenant, rows)
    await configure(
        client,
        tenant,
        {
            "default": {
                "sections": [
                    {
                        "name": name,
                        "weight": weight,
                        "measures": [metric(name.lower(), linear(0, 100))],
                    }
                    for name, (weight, _) in sections.items()
                ]
            }
        },
    )

    assert await run(client, tenant) == {
        "day": DAY,
        "config_version": 1,
        "accounts_scored": 1,
        "accounts_without_data": 0,
    }
    [scored] = await health(client, tenant, "acme")
    assert (scored["score"], scored["band"], scored["segment"]) == (75, "green", None)
    assert [(s["name"], s["weight"], s["score"]) for s in scored["sections"]] == [
        ("Adoption", 7, 83),
        ("Support", 5, 71),
        ("Value", 8, 78),
        ("Sentiment", 3, 54),
    ]
    assert weighted_score([(83, 7), (71, 5), (78, 8), (54, 3)]) == pytest.approx(1722 / 23)
    [stored] = rows.query(
        "SELECT score, band FROM health_scores WHERE workspace_id = %s", tenant.workspace_id
    )
    assert stored == {"score": 75, "band": "green"}


def test_scoring_by_ranges_linear_directions_and_bands() -> None:
    config = Configuration.model_validate(
        one_section(
            metric("a", linear(0, 200)),  # 50 -> 25
            metric("b", linear(0, 10, "lower_is_better")),  # 2 -> 80
            metric("c", linear(10, 20)),  # 35 -> clamped to 100
            {
                "kind": "dimension",
                "key": "plan",
                "scoring": {
                    "method": "ranges",
                    "ranges": [{"equals": "free", "score": 10}, {"equals": "pro", "score": 90}],
                },
            },  # pro -> 90
            metric(
                "d",
                {
                    "method": "ranges",
                    "ranges": [
                        {"below": 5, "score": 0},
                        {"at_least": 5, "below": 10, "score": 55},
                        {"at_least": 10, "score": 100},
                    ],
                },
            ),  # 5 -> 55
        )
    )
    values = {"a": 50, "b": 2, "c": 35, "plan": "pro", "d": 5}
    result = score_account(config, lambda measure: values[measure.key])  # type: ignore[union-attr]
    assert [m.score for m in result.sections[0].measures] == [25, 80, 100, 90, 55]
    assert result.score == 70  # (25 + 80 + 100 + 90 + 55) / 5
    bands = Bands(yellow=40, green=70)
    assert [band(score, bands) for score in (0, 39, 40, 69, 70, 100)] == [
        "red",
        "red",
        "yellow",
        "yellow",
        "green",
        "green",
    ]
    assert result.band == "green"


async def test_segments_are_chosen_by_tier_stage_and_dimension_in_rank_order(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await set_choices(client, tenant, ["Gold", "Silver"], ["Onboarding", "Adopting"])
    await define(client, tenant, "dimension", "region", "string")
    await define(client, tenant, "metric", "nps", "number")
    await upsert(client, tenant, "gold", tier="Gold")
    await upsert(client, tenant, "gold-eu", tier="Gold", custom={"region": "EU"})
    await upsert(client, tenant, "eu", tier="Silver", custom={"region": "EU"})
    await upsert(client, tenant, "new", lifecycle_stage="Onboarding")
    await upsert(client, tenant, "plain", tier="Silver", custom={"region": "US"})
    await record(
        client, tenant, "nps", dict.fromkeys(["gold", "gold-eu", "eu", "new", "plain"], 50)
    )
    await settle(client, tenant, rows)

    def segment(name: str, condition: dict[str, Any], high: float) -> dict[str, Any]:
        return {"name": name, "filter": condition, **one_section(metric("nps", linear(0, high)))}

    await configure(
        client,
        tenant,
        {
            "default": one_section(metric("nps", linear(0, 100))),  # 50
            "segments": [
                segment("Enterprise", {"tier": "Gold"}, 50),  # 100
                segment("Europe", {"dimension": "region", "value": "EU"}, 200),  # 25
                segment("New", {"lifecycle_stage": "Onboarding"}, 1000),  # 5
            ],
        },
    )
    await run(client, tenant)

    scored = {
        account: (await health(client, tenant, account))[0]
        for account in ("gold", "gold-eu", "eu", "new", "plain")
    }
    assert {account: (s["segment"], s["score"], s["band"]) for account, s in scored.items()} == {
        "gold": ("Enterprise", 100, "green"),
        "gold-eu": ("Enterprise", 100, "green"),  # the first segment that matches wins
        "eu": ("Europe", 25, "red"),
        "new": ("New", 5, "red"),
        "plain": (None, 50, "yellow"),
    }


async def test_measures_without_data_are_left_out_and_weights_renormalised(
    client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await define(client, tenant, "metric", "mrr", "number")
    await define(client, tenant, "metric", "nps", "number")
    await define(client, tenant, "dimension", "region", "string")
    await upsert(client, tenant, "partial")
    await upsert(client, tenant, "complete", custom={"region": "EU"})
    await upsert(client, tenant, "empty")
    await record(client, tenant, "mrr", {"partial": 800, "complete": 800})
    await record(client, tenant, "nps", {"complete": 40})
    await settle(client, tenant, rows)
    await configure(
        client,
        tenant,
        {
            "default": {
                "sections": [
                    {
                        "name": "Value",
                        "weight": 3,
                        "measures": [
                            metric("mrr", linear(0, 1000)),
                            {
                                "kind": "dimension",
                                "key": "region",
                                "scoring": {
                                    "method": "ranges",
                                    "ranges": [{"equals": "EU", "score": 100}],
                                },
                            },
                        ],
                    },
                    {"name": "Sentiment", "weight": 1, "measures": [metric("nps", linear(0, 100))]},
                ]
            }
        },
    )

    assert await run(client, tenant) == {
        "day": DAY,
        "config_version": 1,
        "accounts_scored": 2,
        "accounts_without_data": 1,
    }
    [partial] = await health(client, tenant, "partial")
    # Value is mrr alone (80), Sentiment has no data: the score is Value's, weight 3 of 3.
    assert partial["score"] == 80
    value, sentiment = partial["sections"]
    assert [(m["name"], m["value"], m["score"], m["reason"]) for m in value["measures"]] == [
        ("mrr", 800, 80, None),
        ("region", None, None, "no data"),
    ]
    assert (sentiment["score"], sentiment["measures"][0]["reason"]) == (None, "no data")
    [complete] = await health(client, tenant, "complete")
    assert complete["score"] == 78  # (90 * 3 + 40 * 1) / 4 = 77.5
    [empty] = await health(client, tenant, "empty")
    assert (empty["score"], empty["band"]) == (None, None)


async def test_usage_measures_come_from_sessions(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """The sessions test's timeline on 2026-03-02: four sessions of two users, 2100 s."""
    await send(client, tenant, ACCOUNT + TIMELINE)
    await wait_for_events(client, tenant, len(TIMELINE))
    await wait_for_account(client, tenant, "acct-1")
    await sweep(app)

    def usage(name: str, high: float, **options: Any) -> dict[str, Any]:
        return {"kind": "usage", "measure": name, "scoring": linear(0, high), **options}

    await configure(
        client,
        tenant,
        {
            "default": one_section(
                usage("days_active", 20),
                usage("seconds_per_active_user_day", 2100),
                usage("dau_share", 1),
                usage("mau_share", 2),
                usage("sessions", 8, days=7),
            )
        },
    )
    await run(client, tenant, "2026-03-03")  # usage up to the day before

    [scored] = await health(client, tenant, "acct-1", "from=2026-03-03&to=2026-03-03")
    measures = scored["sections"][0]["measures"]
    assert [(m["name"], m["value"], m["score"]) for m in measures] == [
        ("days_active", 1, 5),
        ("seconds_per_active_user_day", 1050, 50),
        ("dau_share", 1, 100),
        ("mau_share", 1, 50),
        ("sessions", 4, 50),
    ]
    assert scored["score"] == 51  # (5 + 50 + 100 + 50 + 50) / 5


async def test_history_keeps_one_score_a_day_and_marks_configuration_changes(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await define(client, tenant, "metric", "mrr", "number")
    await upsert(client, tenant, "acme")
    for day, value in (("2026-11-18", 100), ("2026-11-19", 200), ("2026-11-20", 300)):
        await record(client, tenant, "mrr", {"acme": value}, day=day)
    await settle(client, tenant, rows)
    first = {"default": one_section(metric("mrr", linear(0, 1000)))}
    await configure(client, tenant, first)
    await run(client, tenant, "2026-11-18")
    await run(client, tenant, "2026-11-19")
    second = copy.deepcopy(first)
    second["default"]["sections"][0]["measures"][0]["scoring"]["max"] = 500
    assert await configure(client, tenant, second) == 2
    await run(client, tenant, "2026-11-20")
    await run(client, tenant, "2026-11-20")  # again: replaces the day's score

    history = await health(client, tenant, "acme", "from=2026-11-01&to=2026-11-30")
    assert [(h["day"], h["score"], h["config_version"], h["config_changed"]) for h in history] == [
        ("2026-11-18", 10, 1, False),
        ("2026-11-19", 20, 1, False),
        ("2026-11-20", 60, 2, True),
    ]
    # The change is seen against the score before the range, too.
    [only] = await health(client, tenant, "acme", "from=2026-11-20&to=2026-11-20")
    assert only["config_changed"] is True
    assert rows.query(
        "SELECT count(*) AS n FROM health_scores WHERE workspace_id = %s", tenant.workspace_id
    ) == [{"n": 3}]

    # Reverse sync can push the score: its source reads each account's latest.
    async with app.state.engine.connect() as connection:
        as_of = datetime(2026, 11, 19, 12, tzinfo=UTC)
        query = Query(tenant.workspace_id, "account", None, as_of)
        pushed = await VALUES["health_score"].read(connection, query)
    assert pushed == {"acme": 20}

    unknown = await client.get("/api/v1/accounts/nope/health", headers=bearer(tenant))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    backwards = await client.get(
        "/api/v1/accounts/acme/health?from=2026-11-20&to=2026-11-01", headers=bearer(tenant)
    )
    assert (backwards.status_code, backwards.json()["code"]) == (400, "invalid_range")


async def test_the_configuration_is_validated(client: httpx.AsyncClient, tenant: Tenant) -> None:
    built_in = (await client.get("/api/v1/health-scores/config", headers=bearer(tenant))).json()
    assert (built_in["version"], built_in["updated_at"], built_in["segments"]) == (0, None, [])
    assert [s["name"] for s in built_in["default"]["sections"]] == ["Engagement", "Depth"]

    async def refused(body: dict[str, Any]) -> dict[str, Any]:
        response = await client.put(
            "/api/v1/health-scores/config", json=body, headers=bearer(tenant)
        )
        assert response.status_code == 400, response.text
        error: dict[str, Any] = response.json()
        return error

    unknown = await refused({"default": one_section(metric("mrr", linear(0, 1)))})
    assert unknown["code"] == "unknown_field"
    assert unknown["details"] == [{"section": "All", "kind": "metric", "key": "mrr"}]
    bad = [
        {"default": one_section(metric("x", linear(5, 1)))},
        {
            "default": one_section(
                {
                    "kind": "usage",
                    "measure": "days_active",
                    "scoring": {
                        "method": "ranges",
                        "ranges": [{"equals": "a", "at_least": 1, "score": 5}],
                    },
                }
            )
        },
        {
            "default": one_section(
                {"kind": "usage", "measure": "days_active", "scoring": linear(0, 1)},
                yellow=80,
                green=50,
            )
        },
        {"default": {"sections": []}},
        {"default": one_section({"kind": "usage", "measure": "logins", "scoring": linear(0, 1)})},
        {
            "default": built_in["default"],
            "segments": [{"name": "x", "filter": {}, **built_in["default"]}],
        },
    ]
    for body in bad:
        assert (await refused(body))["code"] == "invalid_request", body
