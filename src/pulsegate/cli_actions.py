"""What the `pulsegate` commands that work on the database do, once their arguments are parsed.

Each returns what the command prints (as JSON with `--json`); `pulsegate.cli` parses, runs and
prints. They call the same services as the HTTP API, with `cli` as the actor in the audit log.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC
from typing import Any

from pulsegate.db import migrate
from pulsegate.db.engine import create_engine, unit_of_work
from pulsegate.errors import PulsegateError
from pulsegate.security import SecretBox, load_or_create_secret_key
from pulsegate.settings import Settings
from pulsegate.workspaces import commands as tenant_commands
from pulsegate.workspaces import service as workspaces


def secret_box_of(settings: Settings) -> SecretBox:
    if settings.secret_key:
        return SecretBox(settings.secret_key.get_secret_value())
    return SecretBox(load_or_create_secret_key(settings.data_dir))


async def with_session(
    settings: Settings, work: Callable[[Any], Coroutine[Any, Any, dict[str, Any]]]
) -> dict[str, Any]:
    engine = create_engine(settings.async_database_url)
    try:
        async with unit_of_work(engine) as session:
            return await work(session)
    finally:
        await engine.dispose()


async def create_workspace(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async def work(session: Any) -> dict[str, Any]:
        workspace = await workspaces.create_workspace(
            session, args.name, actor=tenant_commands.ACTOR
        )
        return {"id": str(workspace.id), "name": workspace.name}

    return await with_session(settings, work)


async def delete_workspace(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pulsegate.storage.retention import store_for
    from pulsegate.workspaces import offboarding

    async def find(session: Any) -> dict[str, Any]:
        found = await workspaces.find_workspace(session, args.workspace)
        return {"id": str(found.id), "name": found.name}

    workspace = await with_session(settings, find)
    engine = create_engine(settings.async_database_url)
    try:
        deleted = await offboarding.offboard(
            engine,
            uuid.UUID(workspace["id"]),
            store=store_for(settings),
            actor=tenant_commands.ACTOR,
        )
    finally:
        await engine.dispose()
    return {**workspace, "deleted": deleted}


async def create_source(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async def work(session: Any) -> dict[str, Any]:
        workspace = await workspaces.find_workspace(session, args.workspace)
        created = await workspaces.create_source(
            session,
            workspace=workspace,
            name=args.name,
            actor=tenant_commands.ACTOR,
            secret_box=secret_box_of(settings),
            webhook_secret=args.webhook_secret,
            allowed_origins=args.allowed_origins,
        )
        return {
            "id": str(created.source.id),
            "workspace_id": str(workspace.id),
            "name": created.source.name,
            "write_key": created.write_key,
            "webhook_secret_set": bool(args.webhook_secret),
            "allowed_origins": args.allowed_origins or [],
        }

    return await with_session(settings, work)


async def replay(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pulsegate.projection.replay import replay_workspace
    from pulsegate.sessions import sweep as session_sweep
    from pulsegate.storage.retention import store_for

    async def find(session: Any) -> dict[str, Any]:
        workspace = await workspaces.find_workspace(session, args.workspace)
        return {"workspace_id": str(workspace.id)}

    found = await with_session(settings, find)
    since, until = (
        when.replace(tzinfo=UTC) if when and not when.tzinfo else when
        for when in (args.since, args.until)
    )
    engine = create_engine(settings.async_database_url)
    try:
        applied = await replay_workspace(
            engine,
            uuid.UUID(found["workspace_id"]),
            store=store_for(settings),
            since=since,
            until=until,
        )
        # Replayed events queued their session keys; rebuild those sessions now, not at the
        # server's next sweep.
        swept = await session_sweep.sweep(engine, rules=settings.session_rules)
    finally:
        await engine.dispose()
    return {
        **found,
        "messages_applied": applied,
        "rebuilt": since is None and until is None,
        "sessions_rebuilt": swept.sessions,
    }


async def create_api_key(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    async def work(session: Any) -> dict[str, Any]:
        workspace = await workspaces.find_workspace(session, args.workspace)
        created = await workspaces.create_api_key(
            session, workspace=workspace, name=args.name, actor=tenant_commands.ACTOR
        )
        return {
            "id": str(created.api_key.id),
            "workspace_id": str(workspace.id),
            "name": created.api_key.name,
            "api_key": created.secret,
        }

    return await with_session(settings, work)


async def list_jobs(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from pulsegate.jobs import service as jobs_service
    from pulsegate.jobs.scheduler import build_runner, schedules

    engine = create_engine(settings.async_database_url)
    try:
        runner = build_runner(engine, settings, secret_box_of(settings))
        async with unit_of_work(engine) as session:
            listed = await jobs_service.list_jobs(
                session, names=list(runner.jobs), schedules=schedules(settings), now=runner.clock()
            )
    finally:
        await engine.dispose()
    return {"items": [item.model_dump(mode="json") for item in listed.items]}


async def list_connectors(session: Any, args: argparse.Namespace) -> dict[str, Any]:
    from pulsegate.connectors import service as connectors_service

    workspace = await workspaces.find_workspace(session, args.workspace)
    found = await connectors_service.list_connectors(session, workspace.id)
    return {"items": [item.model_dump(mode="json") for item in found.items]}


async def list_destinations(session: Any, args: argparse.Namespace) -> dict[str, Any]:
    from pulsegate.destinations import service as destinations_service

    workspace = await workspaces.find_workspace(session, args.workspace)
    found = await destinations_service.list_destinations(session, workspace.id)
    return {"items": [item.model_dump(mode="json") for item in found.items]}


async def run_job(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """Through the job runner, as the scheduler runs it: under the job's lock, recorded."""
    from pulsegate.jobs.scheduler import build_runner
    from pulsegate.jobs.schemas import JobRunOut

    migrate.upgrade(settings.database_url or "")
    engine = create_engine(settings.async_database_url)
    try:
        run = await build_runner(engine, settings, secret_box_of(settings)).run(
            args.name, trigger="cli"
        )
    finally:
        await engine.dispose()
    if run is None:
        raise PulsegateError(f"{args.name} is running elsewhere; try again when it ends")
    out = JobRunOut.model_validate(run).model_dump(mode="json")
    if run.status != "succeeded":
        raise PulsegateError(f"{args.name} {run.status}: {run.error}")
    return out
