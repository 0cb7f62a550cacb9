"""Custom field definitions, and the rule that turns traits into custom dimensions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import CustomField
from pulsegate.errors import AlreadyExists, InvalidRequest, NotFound
from pulsegate.fields import repository
from pulsegate.fields.schemas import (
    CustomFieldSettingsIO,
    FieldIn,
    FieldList,
    FieldOut,
    MetricHistory,
    MetricPoint,
    MetricValuesIn,
    MetricValuesStored,
    TraitMappingIO,
)

DEFAULT_MODE = "auto"


async def list_fields(
    session: AsyncSession, workspace_id: uuid.UUID, object_name: str | None
) -> FieldList:
    rows = await repository.list_fields(session, workspace_id, object_name)
    return FieldList(items=[FieldOut.model_validate(row) for row in rows])


async def create_field(session: AsyncSession, workspace_id: uuid.UUID, body: FieldIn) -> FieldOut:
    field = CustomField(
        workspace_id=workspace_id,
        object=body.object,
        kind=body.kind,
        key=body.key,
        type=body.type,
        label=body.label or body.key,
        source="api",
    )
    if body.kind == "metric" and body.type != "number":
        raise InvalidRequest("a metric is numeric: its type must be number", code="invalid_field")
    if not await repository.insert_field(session, field):
        raise AlreadyExists(f"the workspace already has a {body.object} field {body.key!r}")
    return FieldOut.model_validate(field)


async def get_rule(session: AsyncSession, workspace_id: uuid.UUID) -> CustomFieldSettingsIO:
    mode = await repository.get_mode(session, workspace_id) or DEFAULT_MODE
    mappings = await repository.list_mappings(session, workspace_id)
    return CustomFieldSettingsIO(
        mode=mode,
        mappings=[
            TraitMappingIO(object=m.object, trait=m.trait, field=m.field_key) for m in mappings
        ],
    )


async def replace_rule(
    session: AsyncSession, workspace_id: uuid.UUID, rule: CustomFieldSettingsIO
) -> CustomFieldSettingsIO:
    """Mappings must name custom fields (dimensions or metrics) of their object; traits
    already projected keep their values, new traits follow the new rule."""
    defined = {
        (field.object, field.key)
        for field in await repository.list_fields(session, workspace_id, None)
    }
    unknown = [m for m in rule.mappings if (m.object, m.field) not in defined]
    if unknown:
        raise InvalidRequest(
            "mappings must name custom fields defined for their object",
            code="unknown_field",
            details=[{"object": m.object, "field": m.field} for m in unknown],
        )
    mappings = [(m.object, m.trait, m.field) for m in rule.mappings]
    await repository.replace_rule(session, workspace_id, rule.mode, mappings)
    return await get_rule(session, workspace_id)


async def record_metric_values(
    session: AsyncSession, workspace_id: uuid.UUID, body: MetricValuesIn, *, today: date
) -> MetricValuesStored:
    """Store the values, all or none: every key must be a metric defined for its object.

    A value written now replaces that day's older value; `t` is the request time, so a later
    request wins over an earlier one, and over a trait whose event happened before it.
    """
    metrics = {
        (field.object, field.key)
        for field in await repository.list_fields(session, workspace_id, None)
        if field.kind == "metric"
    }
    unknown = [
        {"index": index, "object": item.object, "key": item.key}
        for index, item in enumerate(body.items)
        if (item.object, item.key) not in metrics
    ]
    if unknown:
        raise InvalidRequest(
            "every key must be a custom metric defined for its object (POST /api/v1/fields)",
            code="unknown_metric",
            details=unknown,
        )
    now = datetime.now(UTC)
    written_at = int(now.timestamp() * 1_000_000)
    request_id = f"api:{uuid.uuid4()}"
    latest: dict[tuple[str, str, str, date], dict[str, object]] = {}
    for item in body.items:  # within a request, the last value of a day wins
        day = item.date or today
        latest[(item.object, item.id, item.key, day)] = {
            "workspace_id": workspace_id,
            "object": item.object,
            "entity_id": item.id,
            "key": item.key,
            "day": day,
            "value": item.value,
            "t": written_at,
            "m": request_id,
        }
    await repository.upsert_metric_values(session, list(latest.values()))
    return MetricValuesStored(stored=len(latest))


async def account_metric_history(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    account_id: str,
    key: str,
    start: date | None,
    end: date | None,
) -> MetricHistory:
    metrics = await repository.list_fields(session, workspace_id, "account")
    if not any(field.kind == "metric" and field.key == key for field in metrics):
        raise NotFound(f"no account metric {key!r}")
    values = await repository.metric_history(
        session,
        workspace_id,
        object_name="account",
        entity_id=account_id,
        key=key,
        start=start,
        end=end,
    )
    return MetricHistory(
        key=key, items=[MetricPoint(date=value.day, value=float(value.value)) for value in values]
    )
