"""What the `pulsegate workspace|source|apikey` commands do, given a database session.

The same services as the admin API, with `cli` as the actor in the audit log; each returns
what the command prints (as JSON with `--json`).
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.workspaces import keys, service

ACTOR = "cli"


async def list_workspaces(session: AsyncSession, _: argparse.Namespace) -> dict[str, Any]:
    found = await service.list_workspaces(session)
    return {"items": [{"id": str(w.id), "name": w.name} for w in found]}


async def list_sources(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    sources = await service.list_sources(session, workspace)
    return {"items": [service.source_out(source).model_dump(mode="json") for source in sources]}


async def set_source_enabled(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    source = await keys.find_source(session, workspace, args.source)
    await keys.update_source(session, source, actor=ACTOR, enabled=args.enabled)
    return service.source_out(source).model_dump(mode="json")


async def rotate_write_key(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    source = await keys.find_source(session, workspace, args.source)
    grace = timedelta(seconds=getattr(args, "grace_seconds", 0))
    rotated = await keys.rotate_write_key(session, source, actor=ACTOR, grace=grace)
    expires_at = rotated.previous_expires_at
    return {
        "source_id": str(source.id),
        "write_key": rotated.secret,
        "previous_key_expires_at": expires_at.isoformat() if expires_at else None,
    }


async def list_api_keys(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    found = await service.list_api_keys(session, workspace)
    return {"items": [service.api_key_out(key).model_dump(mode="json") for key in found]}


async def rotate_api_key(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    key = await keys.find_api_key(session, workspace, args.key_id)
    grace = timedelta(seconds=args.grace_seconds)
    replacement, rotated = await keys.rotate_api_key(session, key, actor=ACTOR, grace=grace)
    expires_at = rotated.previous_expires_at
    return {
        "id": str(replacement.id),
        "name": replacement.name,
        "api_key": rotated.secret,
        "previous_key_expires_at": expires_at.isoformat() if expires_at else None,
    }


async def revoke_api_key(session: AsyncSession, args: argparse.Namespace) -> dict[str, Any]:
    workspace = await service.find_workspace(session, args.workspace)
    key = await keys.find_api_key(session, workspace, args.key_id)
    await keys.revoke_api_key(session, key, actor=ACTOR)
    return service.api_key_out(key).model_dump(mode="json")
