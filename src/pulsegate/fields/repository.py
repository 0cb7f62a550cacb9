"""SQL for custom field definitions and the trait rule."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.models import CustomField, CustomFieldSettings, MetricValue, TraitMapping


async def list_fields(
    session: AsyncSession, workspace_id: uuid.UUID, object_name: str | None
) -> list[CustomField]:
    query = select(CustomField).where(CustomField.workspace_id == workspace_id)
    if object_name is not None:
        query = query.where(CustomField.object == object_name)
    return list((await session.scalars(query.order_by(CustomField.id))).all())


async def insert_field(session: AsyncSession, field: CustomField) -> bool:
    """False when the workspace already has a field with that object and key."""
    values = {
        "workspace_id": field.workspace_id,
        "object": field.object,
        "kind": field.kind,
        "key": field.key,
        "type": field.type,
        "label": field.label,
        "source": field.source,
    }
    statement = (
        pg_insert(CustomField).values(values).on_conflict_do_nothing().returning(CustomField.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def get_mode(session: AsyncSession, workspace_id: uuid.UUID) -> str | None:
    query = select(CustomFieldSettings.mode).where(CustomFieldSettings.workspace_id == workspace_id)
    return (await session.scalars(query)).one_or_none()


async def list_mappings(session: AsyncSession, workspace_id: uuid.UUID) -> list[TraitMapping]:
    query = (
        select(TraitMapping)
        .where(TraitMapping.workspace_id == workspace_id)
        .order_by(TraitMapping.object, TraitMapping.trait)
    )
    return list((await session.scalars(query)).all())


async def replace_rule(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    mode: str,
    mappings: Sequence[tuple[str, str, str]],
) -> None:
    settings = pg_insert(CustomFieldSettings).values(workspace_id=workspace_id, mode=mode)
    await session.execute(
        settings.on_conflict_do_update(index_elements=["workspace_id"], set_={"mode": mode})
    )
    await session.execute(delete(TraitMapping).where(TraitMapping.workspace_id == workspace_id))
    if mappings:
        await session.execute(
            insert(TraitMapping),
            [
                {"workspace_id": workspace_id, "object": obj, "trait": trait, "field_key": key}
                for obj, trait, key in mappings
            ],
        )


async def upsert_metric_values(
    session: AsyncSession | AsyncConnection, values: Sequence[dict[str, object]]
) -> None:
    """One value per entity, metric and day; a write replaces an older one of the same day."""
    statement = pg_insert(MetricValue).values(list(values))
    await session.execute(
        statement.on_conflict_do_update(
            constraint="pk_metric_values",
            set_={
                "value": statement.excluded.value,
                "t": statement.excluded.t,
                "m": statement.excluded.m,
            },
            where=tuple_(statement.excluded.t, statement.excluded.m)
            > tuple_(MetricValue.t, MetricValue.m),
        )
    )


async def metric_history(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    object_name: str,
    entity_id: str,
    key: str,
    start: date | None,
    end: date | None,
) -> list[MetricValue]:
    query = select(MetricValue).where(
        MetricValue.workspace_id == workspace_id,
        MetricValue.object == object_name,
        MetricValue.entity_id == entity_id,
        MetricValue.key == key,
    )
    if start is not None:
        query = query.where(MetricValue.day >= start)
    if end is not None:
        query = query.where(MetricValue.day <= end)
    return list((await session.scalars(query.order_by(MetricValue.day))).all())
