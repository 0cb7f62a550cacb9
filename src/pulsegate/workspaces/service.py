"""Creating tenants and their credentials.

Secrets are returned once, at creation, and stored only as hashes (or encrypted, for webhook
secrets, which must be read back to verify signatures).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import AdminToken, ApiKey, Source, Workspace
from pulsegate.errors import AlreadyExists, NotFound
from pulsegate.security import (
    SecretBox,
    generate_secret,
    generate_write_key,
    hash_key,
    hashes_match,
)
from pulsegate.workspaces import repository
from pulsegate.workspaces.schemas import Retention

DEFAULT_WORKSPACE = "default"
BOOTSTRAP_LOCK_ID = 0x626F6F74  # "boot"


@dataclass(frozen=True)
class CreatedSource:
    source: Source
    write_key: str


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    secret: str


async def create_workspace(session: AsyncSession, name: str) -> Workspace:
    workspace = Workspace(id=uuid.uuid4(), name=name)
    await _add_unique(session, workspace, f"a workspace named {name!r} already exists")
    return workspace


async def _add_unique(session: AsyncSession, row: object, message: str) -> None:
    """Add a row whose name must be unique; a duplicate becomes `AlreadyExists`.

    The savepoint keeps the caller's transaction usable after the violation.
    """
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(message) from error


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await repository.get_workspace(session, workspace_id)
    if workspace is None:
        raise NotFound(f"no workspace {workspace_id}")
    return workspace


def retention_of(workspace: Workspace) -> Retention:
    return Retention(
        log_days=workspace.log_retention_days,
        events_days=workspace.events_retention_days,
        refused_days=workspace.refused_retention_days,
        deliveries_days=workspace.deliveries_retention_days,
    )


def set_retention(workspace: Workspace, retention: Retention) -> None:
    """Applied by the next daily `retention` job (pulsegate.storage.retention)."""
    workspace.log_retention_days = retention.log_days
    workspace.events_retention_days = retention.events_days
    workspace.refused_retention_days = retention.refused_days
    workspace.deliveries_retention_days = retention.deliveries_days


async def is_admin_token(session: AsyncSession, token: str) -> bool:
    stored = await repository.get_admin_token_by_hash(session, hash_key(token))
    return stored is not None and hashes_match(stored.token_hash, token)


async def workspace_for_api_key(session: AsyncSession, key: str) -> uuid.UUID | None:
    stored = await repository.get_api_key_by_hash(session, hash_key(key))
    if stored is None or not hashes_match(stored.key_hash, key):
        return None
    return stored.workspace_id


async def find_workspace(session: AsyncSession, name_or_id: str) -> Workspace:
    """Scripts name workspaces by name; the API by id. Accept either."""
    workspace = await repository.get_workspace_by_name(session, name_or_id)
    if workspace is None:
        try:
            workspace = await repository.get_workspace(session, uuid.UUID(name_or_id))
        except ValueError:
            workspace = None
    if workspace is None:
        raise NotFound(f"no workspace {name_or_id!r}")
    return workspace


async def create_source(
    session: AsyncSession,
    *,
    workspace: Workspace,
    name: str,
    secret_box: SecretBox,
    webhook_secret: str | None = None,
    allowed_origins: list[str] | None = None,
) -> CreatedSource:
    write_key = generate_write_key()
    source = Source(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        name=name,
        write_key_hash=hash_key(write_key),
        webhook_secret_encrypted=secret_box.encrypt(webhook_secret) if webhook_secret else None,
        allowed_origins=allowed_origins or None,
        enabled=True,
    )
    message = f"workspace {workspace.name!r} has a source named {name!r}"
    await _add_unique(session, source, message)
    return CreatedSource(source=source, write_key=write_key)


async def create_api_key(
    session: AsyncSession, *, workspace: Workspace, name: str
) -> CreatedApiKey:
    secret = generate_secret("pgk")
    api_key = ApiKey(
        id=uuid.uuid4(), workspace_id=workspace.id, name=name, key_hash=hash_key(secret)
    )
    session.add(api_key)
    await session.flush()
    return CreatedApiKey(api_key=api_key, secret=secret)


async def create_admin_token(session: AsyncSession, *, name: str) -> str:
    token = generate_secret("pga")
    session.add(AdminToken(id=uuid.uuid4(), name=name, token_hash=hash_key(token)))
    await session.flush()
    return token


async def bootstrap_first_start(
    session: AsyncSession, *, secret_box: SecretBox, create_admin: bool
) -> dict[str, str] | None:
    """On a database with no workspace yet, create `default` with a source and keys.

    Returns the one-time credentials, or None when the database was already set up. The
    transaction-scoped advisory lock keeps two replicas starting together from both doing it.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": BOOTSTRAP_LOCK_ID})
    if await repository.any_workspace_exists(session):
        return None
    workspace = await create_workspace(session, DEFAULT_WORKSPACE)
    created_source = await create_source(
        session, workspace=workspace, name="default", secret_box=secret_box
    )
    created_key = await create_api_key(session, workspace=workspace, name="default")
    credentials = {
        "workspace": workspace.name,
        "workspace_id": str(workspace.id),
        "write_key": created_source.write_key,
        "api_key": created_key.secret,
    }
    if create_admin:
        credentials["admin_token"] = await create_admin_token(session, name="bootstrap")
    return credentials


async def list_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every workspace (jobs that work on each in turn)."""
    return await repository.list_workspace_ids(session)
