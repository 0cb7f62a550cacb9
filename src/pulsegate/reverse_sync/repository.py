"""SQL of reverse sync: rules, the values last pushed, runs and their items."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.models import (
    Destination,
    ReverseSyncItem,
    ReverseSyncRule,
    ReverseSyncRun,
    ReverseSyncValue,
)
from pulsegate.errors import AlreadyExists


async def add_rule(session: AsyncSession, rule: ReverseSyncRule) -> ReverseSyncRule:
    session.add(rule)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(
            f"a rule already fills {rule.target} field {rule.field!r} of this destination"
        ) from error
    await session.refresh(rule)
    return rule


async def list_rules(session: AsyncSession, workspace_id: uuid.UUID) -> list[ReverseSyncRule]:
    query = select(ReverseSyncRule).where(ReverseSyncRule.workspace_id == workspace_id)
    return list((await session.scalars(query.order_by(ReverseSyncRule.created_at))).all())


async def delete_rule(session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(ReverseSyncRule)
        .where(ReverseSyncRule.workspace_id == workspace_id, ReverseSyncRule.id == rule_id)
        .returning(ReverseSyncRule.id)
    )
    return result.first() is not None


async def rules_to_run(connection: AsyncConnection, workspace_id: uuid.UUID) -> list[Any]:
    """The workspace's rules, each with its destination when that is enabled: (rule, dest)."""
    rules = list(
        await connection.execute(
            select(ReverseSyncRule.__table__)
            .where(ReverseSyncRule.workspace_id == workspace_id)
            .order_by(ReverseSyncRule.created_at)
        )
    )
    destinations = {
        row.id: row
        for row in await connection.execute(
            select(Destination.__table__).where(
                Destination.workspace_id == workspace_id, Destination.enabled
            )
        )
    }
    return [
        (rule, destinations[rule.destination_id])
        for rule in rules
        if rule.destination_id in destinations
    ]


async def workspaces_with_rules(connection: AsyncConnection) -> list[uuid.UUID]:
    result = await connection.execute(select(ReverseSyncRule.workspace_id).distinct())
    return list(result.scalars())


async def pushed_values(
    connection: AsyncConnection, workspace_id: uuid.UUID, rule_id: uuid.UUID
) -> dict[str, tuple[str, Any]]:
    query = select(
        ReverseSyncValue.entity_id, ReverseSyncValue.match_value, ReverseSyncValue.value
    ).where(ReverseSyncValue.workspace_id == workspace_id, ReverseSyncValue.rule_id == rule_id)
    return {row.entity_id: (row.match_value, row.value) for row in await connection.execute(query)}


async def record_pushed(
    connection: AsyncConnection, values: Sequence[dict[str, Any]], pushed_at: datetime
) -> None:
    """`values`: workspace_id, rule_id, entity_id, match_value, value."""
    statement = pg_insert(ReverseSyncValue).values(
        [{**value, "pushed_at": pushed_at} for value in values]
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[
                ReverseSyncValue.workspace_id,
                ReverseSyncValue.rule_id,
                ReverseSyncValue.entity_id,
            ],
            set_={
                "match_value": statement.excluded.match_value,
                "value": statement.excluded.value,
                "pushed_at": statement.excluded.pushed_at,
            },
        )
    )


async def start_run(
    connection: AsyncConnection, workspace_id: uuid.UUID, trigger: str, now: datetime
) -> int:
    result = await connection.execute(
        insert(ReverseSyncRun)
        .values(
            workspace_id=workspace_id, trigger=trigger, status="running", started_at=now, counts={}
        )
        .returning(ReverseSyncRun.id)
    )
    return int(result.scalar_one())


async def finish_run(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    run_id: int,
    *,
    status: str,
    counts: dict[str, int],
    error: str | None,
    now: datetime,
) -> None:
    await connection.execute(
        update(ReverseSyncRun)
        .where(ReverseSyncRun.workspace_id == workspace_id, ReverseSyncRun.id == run_id)
        .values(status=status, counts=counts, error=error, finished_at=now)
    )


async def add_item(connection: AsyncConnection, item: dict[str, Any]) -> None:
    await connection.execute(insert(ReverseSyncItem).values(**item))


async def get_run(
    session: AsyncSession, workspace_id: uuid.UUID, run_id: int
) -> ReverseSyncRun | None:
    query = select(ReverseSyncRun).where(
        ReverseSyncRun.workspace_id == workspace_id, ReverseSyncRun.id == run_id
    )
    return (await session.scalars(query)).one_or_none()


async def list_runs(
    session: AsyncSession, workspace_id: uuid.UUID, *, limit: int
) -> list[ReverseSyncRun]:
    query = (
        select(ReverseSyncRun)
        .where(ReverseSyncRun.workspace_id == workspace_id)
        .order_by(ReverseSyncRun.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def list_items(
    session: AsyncSession, run_id: int, *, after_id: int | None, limit: int
) -> list[ReverseSyncItem]:
    query = select(ReverseSyncItem).where(ReverseSyncItem.run_id == run_id)
    if after_id is not None:
        query = query.where(ReverseSyncItem.id > after_id)
    return list((await session.scalars(query.order_by(ReverseSyncItem.id).limit(limit))).all())
