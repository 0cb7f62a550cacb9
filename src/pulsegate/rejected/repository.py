"""Queries over refused messages, scoped to one workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import RejectedMessage


async def list_rejected(
    session: AsyncSession, workspace_id: uuid.UUID, *, before_id: int | None, limit: int
) -> list[RejectedMessage]:
    """Newest first."""
    query = select(RejectedMessage).where(RejectedMessage.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(RejectedMessage.id < before_id)
    query = query.order_by(RejectedMessage.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def get_rejected(
    session: AsyncSession, workspace_id: uuid.UUID, rejected_id: int
) -> RejectedMessage | None:
    query = select(RejectedMessage).where(
        RejectedMessage.workspace_id == workspace_id, RejectedMessage.id == rejected_id
    )
    return (await session.scalars(query)).one_or_none()


async def mark_replayed(session: AsyncSession, workspace_id: uuid.UUID, rejected_id: int) -> None:
    """By the key's leading columns: each day's partition finds it through its primary key."""
    await session.execute(
        update(RejectedMessage)
        .where(RejectedMessage.workspace_id == workspace_id, RejectedMessage.id == rejected_id)
        .values(replayed_at=func.now())
    )
