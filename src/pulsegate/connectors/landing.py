"""How a run's values land: only what differs from what is stored is written.

Dimensions are merged into the entity's fields like traits (`custom:<key>`, newest `(t, m)` per
field), so a trait newer than the run keeps its value; metrics get today's value, one a day.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.connectors import repository
from pulsegate.fields.repository import upsert_metric_values
from pulsegate.projection.custom import CUSTOM_PREFIX


@dataclass(frozen=True, slots=True)
class Landing:
    """Where and as what a run writes: `t` (µs) and `m` order its writes among traits'."""

    workspace_id: uuid.UUID
    object: str
    day: date
    t: int
    m: str


async def write_changes(
    connection: AsyncConnection,
    landing: Landing,
    current: dict[str, dict[str, Any]],
    dimensions: dict[str, dict[str, Any]],
    metrics: dict[tuple[str, str], Any],
) -> set[str]:
    """`current`: each entity's stored fields; `dimensions`: entity -> key -> value;
    `metrics`: (entity, key) -> value. Return the entities that changed."""
    updated: set[str] = set()
    patches: dict[str, dict[str, Any]] = {}
    for entity, values in dimensions.items():
        for key, value in values.items():
            stored = current[entity].get(CUSTOM_PREFIX + key)
            if stored is None and value is None:
                continue
            if stored is not None and (
                stored.get("v") == value or (stored["t"], stored["m"]) > (landing.t, landing.m)
            ):
                continue  # unchanged, or a newer trait holds it
            entry = {"v": value, "t": landing.t, "m": landing.m}
            patches.setdefault(entity, {})[CUSTOM_PREFIX + key] = entry
            updated.add(entity)
    await repository.merge_fields(connection, landing.workspace_id, landing.object, patches)
    stored_metrics = await repository.metrics_of_day(
        connection,
        landing.workspace_id,
        landing.object,
        landing.day,
        [entity for entity, _ in metrics],
        [key for _, key in metrics],
    )
    rows = [
        {
            "workspace_id": landing.workspace_id,
            "object": landing.object,
            "entity_id": entity,
            "key": key,
            "day": landing.day,
            "value": value,
            "t": landing.t,
            "m": landing.m,
        }
        for (entity, key), value in metrics.items()
        if stored_metrics.get((entity, key)) != value
    ]
    if rows:
        await upsert_metric_values(connection, rows)
    return updated | {str(row["entity_id"]) for row in rows}
