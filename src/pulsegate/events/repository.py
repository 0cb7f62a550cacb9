"""Queries over the events projection, always scoped to one workspace."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    RowMapping,
    String,
    Table,
    Text,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

# The view of migration 0004: events with their user and account resolved at read time.
# Its own MetaData: it is not a table for Alembic to manage.
resolved_events = Table(
    "resolved_events",
    MetaData(),
    Column("id", BigInteger),
    Column("workspace_id", UUID),
    Column("message_id", String),
    Column("type", String),
    Column("timestamp", DateTime(timezone=True)),
    Column("account_id", Text),
    Column("user_id", Text),
    Column("anonymous_id", Text),
    Column("name", Text),
    Column("module", Text),
    Column("category", Text),
    Column("properties", JSONB),
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
    """Events in time order; `account_id` and `user_id` filter on the resolved values."""
    event = resolved_events.c
    query = select(resolved_events).where(event.workspace_id == workspace_id)
    if where.account_id is not None:
        query = query.where(event.account_id == where.account_id)
    if where.user_id is not None:
        query = query.where(event.user_id == where.user_id)
    if where.type is not None:
        query = query.where(event.type == where.type)
    if where.since is not None:
        query = query.where(event.timestamp >= where.since)
    if where.until is not None:
        query = query.where(event.timestamp < where.until)
    if after is not None:
        query = query.where(tuple_(event.timestamp, event.id) > tuple_(*after))
    query = query.order_by(event.timestamp, event.id).limit(limit)
    return list((await session.execute(query)).mappings().all())
