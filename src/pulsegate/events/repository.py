"""Queries over the events projection, always scoped to one workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import Event


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
) -> list[Event]:
    query = select(Event).where(Event.workspace_id == workspace_id)
    if where.account_id is not None:
        query = query.where(Event.account_id == where.account_id)
    if where.user_id is not None:
        query = query.where(Event.user_id == where.user_id)
    if where.type is not None:
        query = query.where(Event.type == where.type)
    if where.since is not None:
        query = query.where(Event.timestamp >= where.since)
    if where.until is not None:
        query = query.where(Event.timestamp < where.until)
    if after is not None:
        query = query.where(tuple_(Event.timestamp, Event.id) > tuple_(*after))
    query = query.order_by(Event.timestamp, Event.id).limit(limit)
    return list((await session.scalars(query)).all())
