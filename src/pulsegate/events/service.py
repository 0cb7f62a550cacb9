"""Reading events: filters and cursor pagination in time order."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.api.pagination import decode_cursor, encode_cursor
from pulsegate.events import repository
from pulsegate.events.repository import EventFilter
from pulsegate.events.schemas import EventOut, EventPage


async def list_events(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    where: EventFilter,
    cursor: str | None,
    limit: int,
) -> EventPage:
    after = decode_cursor(cursor) if cursor else None
    # One more than asked tells whether another page exists without a count query.
    rows = await repository.list_events(
        session, workspace_id=workspace_id, where=where, after=after, limit=limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1]["timestamp"], page[-1]["id"]) if more else None
    return EventPage(items=[EventOut.model_validate(row) for row in page], next_cursor=next_cursor)
