"""The raw log, readable: stored messages with their warnings and what the projector made of
them (its notes included: a `group` without `createdAt` creates no account, and says so)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.errors import NotFound
from pulsegate.messages import repository
from pulsegate.messages.repository import MessageFilter
from pulsegate.messages.schemas import MessageOut, MessagePage, ProjectedEvent, Projection


async def list_messages(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    where: MessageFilter,
    cursor: str | None,
    limit: int,
    budget: int = repository.SCAN_BUDGET,
) -> MessagePage:
    """A page of at most `limit` matches among the next `budget` messages of the log."""
    before = decode_id_cursor(cursor) if cursor else None
    page = await repository.list_messages(
        session, workspace_id, where=where, before_id=before, limit=limit + 1, budget=budget
    )
    rows = page.rows[:limit]
    if len(page.rows) > limit:
        next_cursor: str | None = encode_id_cursor(rows[-1]["id"])
    elif page.scanned >= budget and page.lowest_scanned_id is not None:
        next_cursor = encode_id_cursor(page.lowest_scanned_id)  # the scan's budget ran out
    else:
        next_cursor = None
    return MessagePage(
        items=await _with_projection(session, workspace_id, rows), next_cursor=next_cursor
    )


async def get_message(session: AsyncSession, workspace_id: uuid.UUID, log_id: int) -> MessageOut:
    row = await repository.get_message(session, workspace_id, log_id)
    if row is None:
        raise NotFound(f"no stored message {log_id}")
    [found] = await _with_projection(session, workspace_id, [row])
    return found


async def _with_projection(
    session: AsyncSession, workspace_id: uuid.UUID, rows: list[dict[str, Any]]
) -> list[MessageOut]:
    position, notes, failures, events = await repository.projection_of(session, workspace_id, rows)
    items = []
    for row in rows:
        event = events.get(row["message_id"])
        if row["id"] in failures:
            state = "failed"
        elif position is not None and row["id"] <= position:
            state = "applied"
        else:
            state = "pending"
        items.append(
            MessageOut(
                id=row["id"],
                source_id=row["source_id"],
                message_id=row["message_id"],
                type=row["type"],
                received_at=row["received_at"],
                timestamp=row["timestamp"],
                message=row["message"],
                warnings=row["warnings"] or [],
                projection=Projection(
                    state=state,
                    error=failures.get(row["id"]),
                    notes=notes.get(row["id"], []),
                    event=ProjectedEvent.model_validate(event) if event else None,
                ),
            )
        )
    return items
