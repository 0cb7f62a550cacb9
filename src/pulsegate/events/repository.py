"""Queries over the events projection, always scoped to one workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import Event

# What a list returns: who an event is attributed to, under the API's names.
_COLUMNS = (
    Event.id,
    Event.workspace_id,
    Event.message_id,
    Event.type,
    Event.timestamp,
    Event.anonymous_id,
    Event.name,
    Event.module,
    Event.category,
    Event.properties,
    Event.resolved_user_id.label("user_id"),
    Event.resolved_account_id.label("account_id"),
)


@dataclass(frozen=True, slots=True)
class EventFilter:
    account_id: str | None = None
    user_id: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_events(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    where: EventFilter,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[RowMapping]:
    """Events in time order; `account_id` and `user_id` filter on the stored attribution.
    Each filter is an index range in this order (see `Event`'s indexes)."""
    query = select(*_COLUMNS).where(Event.workspace_id == workspace_id)
    if where.account_id is not None:
        query = query.where(Event.resolved_account_id == where.account_id)
    if where.user_id is not None:
        query = query.where(Event.resolved_user_id == where.user_id)
    if where.type is not None:
        query = query.where(Event.type == where.type)
    if where.since is not None:
        query = query.where(Event.timestamp >= where.since)
    if where.until is not None:
        query = query.where(Event.timestamp < where.until)
    if after is not None:
        query = query.where(tuple_(Event.timestamp, Event.id) > tuple_(*after))
    query = query.order_by(Event.timestamp, Event.id).limit(limit)
    return list((await session.execute(query)).mappings().all())
