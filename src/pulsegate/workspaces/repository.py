"""SQL for workspaces, sources and keys."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import AdminToken, ApiKey, Source, Workspace


async def get_workspace_by_name(session: AsyncSession, name: str) -> Workspace | None:
    result = await session.execute(select(Workspace).where(Workspace.name == name))
    return result.scalar_one_or_none()


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def any_workspace_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(Workspace.id.is_not(None)))))


async def get_source_by_write_key_hash(
    session: AsyncSession, key_hash: str
) -> tuple[Source, int | None] | None:
    """The source whose current key, or previous key (in its grace period), has this hash,
    with its workspace's rate limit."""
    query = (
        select(Source, Workspace.rate_limit_per_second)
        .join(Workspace, Workspace.id == Source.workspace_id)
        .where(or_(Source.write_key_hash == key_hash, Source.previous_write_key_hash == key_hash))
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def list_workspaces(session: AsyncSession) -> list[Workspace]:
    return list(await session.scalars(select(Workspace).order_by(Workspace.name)))


async def list_sources(session: AsyncSession, workspace_id: uuid.UUID) -> list[Source]:
    query = select(Source).where(Source.workspace_id == workspace_id).order_by(Source.name)
    return list(await session.scalars(query))


async def get_source_by_name(
    session: AsyncSession, workspace_id: uuid.UUID, name: str
) -> Source | None:
    query = select(Source).where(Source.workspace_id == workspace_id, Source.name == name)
    return (await session.scalars(query)).one_or_none()


async def get_source(
    session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID
) -> Source | None:
    query = select(Source).where(Source.workspace_id == workspace_id, Source.id == source_id)
    return (await session.scalars(query)).one_or_none()


async def list_api_keys(session: AsyncSession, workspace_id: uuid.UUID) -> list[ApiKey]:
    query = (
        select(ApiKey)
        .where(ApiKey.workspace_id == workspace_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    return list(await session.scalars(query))


async def get_api_key(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
    return (await session.scalars(query)).one_or_none()


async def get_admin_token_by_hash(session: AsyncSession, token_hash: str) -> AdminToken | None:
    result = await session.execute(select(AdminToken).where(AdminToken.token_hash == token_hash))
    return result.scalar_one_or_none()


async def get_api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
    return result.scalar_one_or_none()


async def list_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(Workspace.id).order_by(Workspace.created_at)))
