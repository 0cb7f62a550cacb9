"""Creating tenants and their credentials.

Secrets are returned once, at creation, and stored only as hashes (or encrypted, for webhook
secrets, which must be read back to verify signatures).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

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
from pulsegate.workspaces import audit, changes, keys, repository
from pulsegate.workspaces.schemas import ApiKeyOut, Retention, SourceOut

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


async def create_workspace(session: AsyncSession, name: str, *, actor: str) -> Workspace:
    workspace = Workspace(id=uuid.uuid4(), name=name)
    await _add_unique(session, workspace, f"a workspace named {name!r} already exists")
    await audit.record(
        session, actor=actor, workspace_id=workspace.id, action="workspace.created", target=name
    )
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


async def set_retention(
    session: AsyncSession, workspace: Workspace, retention: Retention, *, actor: str
) -> None:
    """Applied by the next daily `retention` job (pulsegate.storage.retention)."""
    workspace.log_retention_days = retention.log_days
    workspace.events_retention_days = retention.events_days
    workspace.refused_retention_days = retention.refused_days
    workspace.deliveries_retention_days = retention.deliveries_days
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace.id,
        action="workspace.retention_set",
        details=retention.model_dump(),
    )


async def update_workspace(
    session: AsyncSession, workspace: Workspace, *, rate_limit: int | None, actor: str
) -> None:
    workspace.rate_limit_per_second = rate_limit
    await changes.announce(session)  # the sources' cached limits
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace.id,
        action="workspace.updated",
        details={"rate_limit_per_second": rate_limit},
    )


def source_out(source: Source) -> SourceOut:
    expires_at = source.previous_write_key_expires_at
    return SourceOut(
        id=source.id,
        workspace_id=source.workspace_id,
        name=source.name,
        enabled=source.enabled,
        webhook_secret_set=source.webhook_secret_encrypted is not None,
        allowed_origins=source.allowed_origins or [],
        rate_limit_per_second=source.rate_limit_per_second,
        previous_key_expires_at=expires_at,
        created_at=source.created_at,
    )


def api_key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        workspace_id=key.workspace_id,
        name=key.name,
        created_at=key.created_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        active=keys.api_key_is_valid(key, datetime.now(UTC)),
    )


async def admin_token_name(session: AsyncSession, token: str) -> str | None:
    """The name of the stored admin token `token` is, if it is one."""
    stored = await repository.get_admin_token_by_hash(session, hash_key(token))
    if stored is None or not hashes_match(stored.token_hash, token):
        return None
    return stored.name


async def api_key_for(session: AsyncSession, key: str) -> ApiKey | None:
    """The API key `key` is, while it is valid: not revoked, nor past its grace period."""
    stored = await repository.get_api_key_by_hash(session, hash_key(key))
    if stored is None or not hashes_match(stored.key_hash, key):
        return None
    return stored if keys.api_key_is_valid(stored, datetime.now(UTC)) else None


async def api_key_id_is_valid(
    session: AsyncSession, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> bool:
    """Whether the API key with this id still authorises (not revoked, not expired)."""
    stored = await repository.get_api_key(session, workspace_id, key_id)
    return stored is not None and keys.api_key_is_valid(stored, datetime.now(UTC))


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
    actor: str,
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
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace.id,
        action="source.created",
        target=f"source:{source.id}",
        details={"name": name},
    )
    return CreatedSource(source=source, write_key=write_key)


async def create_api_key(
    session: AsyncSession, *, workspace: Workspace, name: str, actor: str
) -> CreatedApiKey:
    secret = generate_secret("pgk")
    api_key = ApiKey(
        id=uuid.uuid4(), workspace_id=workspace.id, name=name, key_hash=hash_key(secret)
    )
    session.add(api_key)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace.id,
        action="api_key.created",
        target=f"api_key:{api_key.id}",
        details={"name": name},
    )
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
    actor = "first-start"
    workspace = await create_workspace(session, DEFAULT_WORKSPACE, actor=actor)
    created_source = await create_source(
        session, workspace=workspace, name="default", actor=actor, secret_box=secret_box
    )
    created_key = await create_api_key(session, workspace=workspace, name="default", actor=actor)
    credentials = {
        "workspace": workspace.name,
        "workspace_id": str(workspace.id),
        "write_key": created_source.write_key,
        "api_key": created_key.secret,
    }
    if create_admin:
        credentials["admin_token"] = await create_admin_token(session, name="bootstrap")
    return credentials


async def list_workspaces(session: AsyncSession) -> list[Workspace]:
    return await repository.list_workspaces(session)


async def list_sources(session: AsyncSession, workspace: Workspace) -> list[Source]:
    return await repository.list_sources(session, workspace.id)


async def list_api_keys(session: AsyncSession, workspace: Workspace) -> list[ApiKey]:
    return await repository.list_api_keys(session, workspace.id)


async def list_workspace_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Every workspace (jobs that work on each in turn)."""
    return await repository.list_workspace_ids(session)
