"""SQL for workspaces, sources and keys."""

from __future__ import annotations

import uuid

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import AdminToken, ApiKey, Source, Workspace


async def get_workspace_by_name(session: AsyncSession, name: str) -> Workspace | None:
    result = await session.execute(select(Workspace).where(Workspace.name == name))
    return result.scalar_one_or_none()


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def any_workspace_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(Workspace.id.is_not(None)))))


async def get_source_by_write_key_hash(session: AsyncSession, key_hash: str) -> Source | None:
    result = await session.execute(select(Source).where(Source.write_key_hash == key_hash))
    return result.scalar_one_or_none()


async def get_admin_token_by_hash(session: AsyncSession, token_hash: str) -> AdminToken | None:
    result = await session.execute(select(AdminToken).where(AdminToken.token_hash == token_hash))
    return result.scalar_one_or_none()


async def get_api_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    result = await session.execute(select(ApiKey).where(ApiKey.key_hash == key_hash))
    return result.scalar_one_or_none()


async def list_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(Workspace.id).order_by(Workspace.created_at)))
