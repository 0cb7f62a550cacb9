"""Workspaces for tests: each test gets its own, with a source, a write key and an API key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pulsegate.db.engine import create_engine, unit_of_work
from pulsegate.security import SecretBox
from pulsegate.settings import Settings
from pulsegate.workspaces import service as workspaces
from tests.support import leaks

SECRET_KEY = "test-secret-key-of-at-least-32-characters"


ADMIN_TOKEN = "test-admin-token"


@dataclass(frozen=True)
class Tenant:
    workspace_id: uuid.UUID
    source_id: uuid.UUID
    write_key: str
    webhook_secret: str | None = None
    api_key: str = ""


async def create_tenant(
    database_url: str,
    *,
    webhook_secret: str | None = None,
    allowed_origins: list[str] | None = None,
) -> Tenant:
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    try:
        async with unit_of_work(engine) as session:
            workspace = await workspaces.create_workspace(
                session, f"ws-{uuid.uuid4().hex[:12]}", actor="tests"
            )
            created = await workspaces.create_source(
                session,
                workspace=workspace,
                name="web",
                actor="tests",
                secret_box=SecretBox(SECRET_KEY),
                webhook_secret=webhook_secret,
                allowed_origins=allowed_origins,
            )
            key = await workspaces.create_api_key(
                session, workspace=workspace, name="tests", actor="tests"
            )
    finally:
        await engine.dispose()
    leaks.remember(created.write_key, key.secret, webhook_secret)
    return Tenant(
        workspace.id, created.source.id, created.write_key, webhook_secret, api_key=key.secret
    )
