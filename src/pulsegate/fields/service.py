"""Custom field definitions, and the rule that turns traits into custom dimensions."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import CustomField
from pulsegate.errors import InvalidRequest, PulsegateError
from pulsegate.fields import repository
from pulsegate.fields.schemas import (
    CustomFieldSettingsIO,
    FieldIn,
    FieldList,
    FieldOut,
    TraitMappingIO,
)

DEFAULT_MODE = "auto"


class FieldExists(PulsegateError):
    status_code = 409
    code = "already_exists"


async def list_fields(
    session: AsyncSession, workspace_id: uuid.UUID, object_name: str | None
) -> FieldList:
    rows = await repository.list_fields(session, workspace_id, object_name)
    return FieldList(items=[FieldOut.model_validate(row) for row in rows])


async def create_field(session: AsyncSession, workspace_id: uuid.UUID, body: FieldIn) -> FieldOut:
    field = CustomField(
        workspace_id=workspace_id, object=body.object, kind=body.kind, key=body.key,
        type=body.type, label=body.label or body.key, source="api",
    )  # fmt: skip
    if body.kind == "metric" and body.type != "number":
        raise InvalidRequest("a metric is numeric: its type must be number", code="invalid_field")
    if not await repository.insert_field(session, field):
        raise FieldExists(f"the workspace already has a {body.object} field {body.key!r}")
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
    """Mappings must name existing dimensions of their object; traits already projected keep
    their values, new traits follow the new rule."""
    dimensions = {
        (field.object, field.key)
        for field in await repository.list_fields(session, workspace_id, None)
        if field.kind == "dimension"
    }
    unknown = [m for m in rule.mappings if (m.object, m.field) not in dimensions]
    if unknown:
        raise InvalidRequest(
            "mappings must name custom dimensions defined for their object",
            code="unknown_field",
            details=[{"object": m.object, "field": m.field} for m in unknown],
        )
    mappings = [(m.object, m.trait, m.field) for m in rule.mappings]
    await repository.replace_rule(session, workspace_id, rule.mode, mappings)
    return await get_rule(session, workspace_id)
