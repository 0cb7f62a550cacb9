"""SQL of health scores: the configuration, metric inputs, and the daily scores."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import RowMapping, false, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.models import HealthScore, HealthScoreConfig


async def get_config(session: AsyncSession, workspace_id: uuid.UUID) -> HealthScoreConfig | None:
    return await session.get(HealthScoreConfig, workspace_id)


async def save_config(
    session: AsyncSession, workspace_id: uuid.UUID, config: dict[str, Any], *, now: datetime
) -> HealthScoreConfig:
    """Replace the configuration, one version up (the first saved is version 1)."""
    statement = insert(HealthScoreConfig).values(
        workspace_id=workspace_id, version=1, config=config, updated_at=now
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[HealthScoreConfig.workspace_id],
        set_={
            "version": HealthScoreConfig.version + 1,
            "config": statement.excluded.config,
            "updated_at": statement.excluded.updated_at,
        },
    ).returning(HealthScoreConfig)
    saved: HealthScoreConfig = (await session.execute(upsert)).scalar_one()
    return saved


async def latest_metric_values(
    session: AsyncSession, workspace_id: uuid.UUID, key: str, *, day: date
) -> dict[str, float]:
    """Each account's latest value of the metric on or before `day`."""
    result = await session.execute(
        text(
            """
            SELECT DISTINCT ON (entity_id) entity_id, value FROM metric_values
            WHERE workspace_id = :w AND object = 'account' AND key = :key AND day <= :day
            ORDER BY entity_id, day DESC
            """
        ),
        {"w": workspace_id, "key": key, "day": day},
    )
    return {row.entity_id: float(row.value) for row in result}


async def average_metric_values(
    session: AsyncSession, workspace_id: uuid.UUID, key: str, *, first_day: date, last_day: date
) -> dict[str, float]:
    """Each account's mean of the metric over the days between, counting days with a value."""
    result = await session.execute(
        text(
            """
            SELECT entity_id, avg(value) AS value FROM metric_values
            WHERE workspace_id = :w AND object = 'account' AND key = :key
              AND day BETWEEN :first AND :last
            GROUP BY entity_id
            """
        ),
        {"w": workspace_id, "key": key, "first": first_day, "last": last_day},
    )
    return {row.entity_id: float(row.value) for row in result}


_SAVE_SCORES = text(
    """
    INSERT INTO health_scores
        (workspace_id, account_id, day, score, band, segment, config_version, breakdown,
         computed_at)
    SELECT :workspace_id, r.account_id, :day, r.score, r.band, r.segment, :config_version,
           r.breakdown, :computed_at
    FROM jsonb_to_recordset(CAST(:scores AS jsonb))
        AS r(account_id text, score int, band text, segment text, breakdown jsonb)
    ON CONFLICT (workspace_id, account_id, day) DO UPDATE SET
        score = EXCLUDED.score, band = EXCLUDED.band, segment = EXCLUDED.segment,
        config_version = EXCLUDED.config_version, breakdown = EXCLUDED.breakdown,
        computed_at = EXCLUDED.computed_at
    """
)


async def save_scores(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    day: date,
    config_version: int,
    computed_at: datetime,
    scores: list[dict[str, Any]],
) -> None:
    """One score per account and day: a run on the same day replaces the earlier one.

    The scores travel as one JSON document (`account_id, score, band, segment, breakdown`
    each): a multi-row VALUES of 2,000 accounts bound 18,000 parameters."""
    if not scores:
        return
    await session.execute(
        _SAVE_SCORES,
        {
            "workspace_id": workspace_id,
            "day": day,
            "config_version": config_version,
            "computed_at": computed_at,
            "scores": orjson.dumps(scores).decode(),
        },
    )


async def history(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str, *, first: date, last: date
) -> list[RowMapping]:
    """The account's scores between the days, each with whether the configuration version
    differs from the account's score before it (which may lie before `first`)."""
    previous = func.lag(HealthScore.config_version).over(order_by=HealthScore.day)
    changed = func.coalesce(HealthScore.config_version != previous, false())
    ordered = (
        select(HealthScore, changed.label("changed"))
        .where(
            HealthScore.workspace_id == workspace_id,
            HealthScore.account_id == account_id,
            HealthScore.day <= last,
        )
        .subquery()
    )
    result = await session.execute(
        select(ordered).where(ordered.c.day >= first).order_by(ordered.c.day)
    )
    return list(result.mappings().all())


async def latest_scores(
    connection: AsyncConnection, workspace_id: uuid.UUID, *, day: date
) -> dict[str, int]:
    """Each account's latest score on or before `day` (what reverse sync pushes)."""
    result = await connection.execute(
        text(
            """
            SELECT DISTINCT ON (account_id) account_id, score FROM health_scores
            WHERE workspace_id = :w AND day <= :day
            ORDER BY account_id, day DESC
            """
        ),
        {"w": workspace_id, "day": day},
    )
    return {row.account_id: row.score for row in result if row.score is not None}
