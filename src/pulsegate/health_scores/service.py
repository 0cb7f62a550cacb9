"""Health scores: the workspace's configuration, scoring every account, and the history.

Scoring day D reads usage over the 30 (or a measure's N) full days ending the day before D,
so that the nightly run just after midnight does not score a day that has barely begun;
metrics as of D (the nightly connector sync has just written D's values); dimensions as
they are now. One score per account and day: a second run on D replaces the first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pulsegate.accounts import service as accounts_service
from pulsegate.accounts.schemas import AccountCore
from pulsegate.db.engine import unit_of_work
from pulsegate.db.models import HealthScoreConfig
from pulsegate.errors import InvalidRequest
from pulsegate.fields import service as fields_service
from pulsegate.health_scores import repository
from pulsegate.health_scores.schemas import (
    AccountFilter,
    Configuration,
    HealthHistory,
    HealthScoreConfigIn,
    HealthScoreConfigOut,
    HealthScoreOut,
    HealthScoreRunOut,
    Measure,
    MetricMeasure,
    UsageMeasure,
)
from pulsegate.health_scores.scoring import score_account
from pulsegate.reverse_sync.values import PushedValue, Query, register
from pulsegate.sessions import service as sessions_service
from pulsegate.sessions.service import AccountUsage
from pulsegate.workspaces import service as workspaces_service

log = structlog.get_logger(__name__)

MAX_HISTORY_DAYS = 366
# Scores usage alone until a workspace configures its own (version 0).
BUILT_IN = HealthScoreConfigIn.model_validate(
    {
        "default": {
            "sections": [
                {
                    "name": "Engagement",
                    "weight": 1,
                    "measures": [
                        {
                            "kind": "usage",
                            "measure": "days_active",
                            "scoring": {"method": "linear", "min": 0, "max": 20},
                        },
                        {
                            "kind": "usage",
                            "measure": "mau_share",
                            "scoring": {"method": "linear", "min": 0, "max": 0.8},
                        },
                    ],
                },
                {
                    "name": "Depth",
                    "weight": 1,
                    "measures": [
                        {
                            "kind": "usage",
                            "measure": "seconds_per_active_user_day",
                            "scoring": {"method": "linear", "min": 0, "max": 1800},
                        },
                    ],
                },
            ]
        },
    }
)


async def get_config(session: AsyncSession, workspace_id: uuid.UUID) -> HealthScoreConfigOut:
    stored = await repository.get_config(session, workspace_id)
    if stored is None:
        return HealthScoreConfigOut(version=0, updated_at=None, **BUILT_IN.model_dump())
    return _config_out(stored)


def _config_out(stored: HealthScoreConfig) -> HealthScoreConfigOut:
    return HealthScoreConfigOut(
        version=stored.version, updated_at=stored.updated_at, **stored.config
    )


async def replace_config(
    session: AsyncSession, workspace_id: uuid.UUID, body: HealthScoreConfigIn, *, now: datetime
) -> HealthScoreConfigOut:
    await check_fields(session, workspace_id, body)
    stored = await repository.save_config(
        session, workspace_id, body.model_dump(mode="json"), now=now
    )
    return _config_out(stored)


async def check_fields(
    session: AsyncSession, workspace_id: uuid.UUID, body: HealthScoreConfigIn
) -> None:
    """Metric and dimension measures must name the workspace's account fields of that kind."""
    defined = {
        (field.kind, field.key)
        for field in (await fields_service.list_fields(session, workspace_id, "account")).items
    }
    unknown = [
        {"section": section.name, "kind": measure.kind, "key": measure.key}
        for config in (body.default, *body.segments)
        for section in config.sections
        for measure in section.measures
        if measure.kind != "usage" and (measure.kind, measure.key) not in defined
    ]
    if unknown:
        names = ", ".join(f"{item['kind']} {item['key']!r}" for item in unknown)
        raise InvalidRequest(
            f"no account custom field for {names}; define it with POST /api/v1/fields",
            code="unknown_field",
            details=unknown,
        )


def _matches(account: AccountCore, rule: AccountFilter) -> bool:
    if rule.tier is not None and account.standard("tier") != rule.tier:
        return False
    stage = account.standard("lifecycle_stage")
    if rule.lifecycle_stage is not None and stage != rule.lifecycle_stage:
        return False
    if rule.dimension is None:
        return True
    value = account.custom.get(rule.dimension)
    if isinstance(rule.value, bool) or isinstance(value, bool):
        return value is rule.value
    return value == rule.value or (value is not None and str(value) == str(rule.value))


class _Inputs:
    """Every value the configuration needs, read once per workspace and run."""

    def __init__(self, *, day: date, usage: dict[str, AccountUsage]) -> None:
        self.day = day
        self.usage = usage
        self.metrics: dict[tuple[str, str, int], dict[str, float]] = {}

    @staticmethod
    def metric_key(measure: MetricMeasure) -> tuple[str, str, int]:
        return measure.key, measure.aggregate, measure.days if measure.aggregate == "average" else 0

    def value_of(self, account: AccountCore) -> Callable[[Measure], Any]:
        usage_day = self.day - timedelta(days=1)
        usage = self.usage.get(account.account_id) or AccountUsage(as_of=usage_day)
        measures = usage.measures(account.user_count)

        def value(measure: Measure) -> Any:
            if measure.kind == "metric":
                return self.metrics[self.metric_key(measure)].get(account.account_id)
            if measure.kind == "dimension":
                return account.custom.get(measure.key)
            if measure.measure == "sessions":
                return usage.sessions(measure.days)
            return getattr(measures, measure.measure)

        return value


async def _read_inputs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    configs: list[Configuration],
    *,
    day: date,
    timezone: str,
) -> _Inputs:
    measures = [m for config in configs for section in config.sections for m in section.measures]
    longest = max([m.days for m in measures if isinstance(m, UsageMeasure)], default=30)
    usage = await sessions_service.usage_by_account(
        session,
        workspace_id=workspace_id,
        as_of=day - timedelta(days=1),
        days=longest,
        timezone=timezone,
    )
    inputs = _Inputs(day=day, usage=usage)
    for measure in measures:
        if isinstance(measure, MetricMeasure) and _Inputs.metric_key(measure) not in inputs.metrics:
            if measure.aggregate == "latest":
                values = await repository.latest_metric_values(
                    session, workspace_id, measure.key, day=day
                )
            else:
                values = await repository.average_metric_values(
                    session,
                    workspace_id,
                    measure.key,
                    first_day=day - timedelta(days=measure.days - 1),
                    last_day=day,
                )
            inputs.metrics[_Inputs.metric_key(measure)] = values
    return inputs


async def score_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, *, day: date, timezone: str, now: datetime
) -> HealthScoreRunOut:
    """Score every account of the workspace for `day` and keep the scores."""
    config = await get_config(session, workspace_id)
    inputs = await _read_inputs(
        session, workspace_id, [config.default, *config.segments], day=day, timezone=timezone
    )
    rows, without_data = [], 0
    for account in await accounts_service.all_accounts(session, workspace_id):
        segment = next((s for s in config.segments if _matches(account, s.filter)), None)
        result = score_account(segment or config.default, inputs.value_of(account))
        without_data += result.score is None
        rows.append(
            {
                "account_id": account.account_id,
                "score": result.score,
                "band": result.band,
                "segment": segment.name if segment else None,
                "breakdown": {"sections": [s.model_dump(mode="json") for s in result.sections]},
            }
        )
    await repository.save_scores(
        session,
        workspace_id,
        day=day,
        config_version=config.version,
        computed_at=now,
        scores=rows,
    )
    return HealthScoreRunOut(
        day=day,
        config_version=config.version,
        accounts_scored=len(rows) - without_data,
        accounts_without_data=without_data,
    )


async def preview_account(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: str,
    draft: HealthScoreConfigIn,
    *,
    day: date,
    timezone: str,
) -> dict[str, Any]:
    """One account's score under a draft configuration, saved nowhere (the console's editor):
    the same inputs and scoring as a run."""
    await check_fields(session, workspace_id, draft)
    account = await accounts_service.get_account(session, workspace_id, account_id)
    inputs = await _read_inputs(
        session, workspace_id, [draft.default, *draft.segments], day=day, timezone=timezone
    )
    segment = next((s for s in draft.segments if _matches(account, s.filter)), None)
    result = score_account(segment or draft.default, inputs.value_of(account))
    return {
        "account_id": account_id,
        "score": result.score,
        "band": result.band,
        "segment": segment.name if segment else None,
        "sections": [section.model_dump(mode="json") for section in result.sections],
    }


async def score_all(
    engine: AsyncEngine, *, timezone: str, now: datetime
) -> dict[str, HealthScoreRunOut]:
    """The nightly job: every workspace, each in a transaction of its own."""
    day = today(timezone, now)
    async with unit_of_work(engine) as session:
        workspace_ids = await workspaces_service.list_workspace_ids(session)
    results = {}
    for workspace_id in workspace_ids:
        async with unit_of_work(engine) as session:
            results[str(workspace_id)] = await score_workspace(
                session, workspace_id, day=day, timezone=timezone, now=now
            )
    return results


def today(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


async def account_history(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str, *, first: date, last: date
) -> HealthHistory:
    if last < first or (last - first).days >= MAX_HISTORY_DAYS:
        raise InvalidRequest(
            f"'from' must not be after 'to', and at most {MAX_HISTORY_DAYS} days apart",
            code="invalid_range",
        )
    await accounts_service.get_account(session, workspace_id, account_id)
    rows = await repository.history(session, workspace_id, account_id, first=first, last=last)
    return HealthHistory(
        account_id=account_id,
        items=[_score_out(row) for row in rows],
    )


def _score_out(row: Any) -> HealthScoreOut:
    return HealthScoreOut(
        day=row["day"],
        score=row["score"],
        band=row["band"],
        segment=row["segment"],
        config_version=row["config_version"],
        config_changed=row["changed"],
        sections=row["breakdown"]["sections"],
        computed_at=row["computed_at"],
    )


async def _read_health_score(connection: AsyncConnection, query: Query) -> dict[str, Any]:
    return dict(
        await repository.latest_scores(
            connection, query.workspace_id, day=query.as_of.astimezone(UTC).date()
        )
    )


register(
    PushedValue(
        "health_score",
        frozenset({"account"}),
        "The account's latest health score (0-100)",
        _read_health_score,
    )
)
