"""The lifecycle of credentials: list, disable and enable, rotate with a grace period, revoke.

A rotation issues a new secret and lets the replaced one work until its grace period ends, so
a fleet of senders can be moved over without losing a message; a revocation stops a secret at
once. A write key is semi-public and always needed by its source, so revoking it replaces it
with a new one at once (a rotation with no grace); to stop a source altogether, disable it.
Every change is announced (pulsegate.workspaces.changes) so that each serving process drops
its cached keys now, not when its cache expires, and is recorded in the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import ApiKey, Source, Workspace
from pulsegate.errors import InvalidRequest, NotFound
from pulsegate.security import generate_secret, generate_write_key, hash_key
from pulsegate.workspaces import audit, changes, repository


@dataclass(frozen=True)
class Rotated:
    secret: str
    previous_expires_at: datetime | None


async def find_source(session: AsyncSession, workspace: Workspace, name_or_id: str) -> Source:
    """A source of the workspace by its name, or by its id."""
    source = await repository.get_source_by_name(session, workspace.id, name_or_id)
    if source is None:
        try:
            source = await repository.get_source(session, workspace.id, uuid.UUID(name_or_id))
        except ValueError:
            source = None
    if source is None:
        raise NotFound(f"workspace {workspace.name!r} has no source {name_or_id!r}")
    return source


async def find_api_key(session: AsyncSession, workspace: Workspace, key_id: str) -> ApiKey:
    try:
        key = await repository.get_api_key(session, workspace.id, uuid.UUID(key_id))
    except ValueError:
        key = None
    if key is None:
        raise NotFound(f"workspace {workspace.name!r} has no API key {key_id!r}")
    return key


async def update_source(
    session: AsyncSession,
    source: Source,
    *,
    actor: str,
    enabled: bool | None = None,
    rate_limit: int | None = None,
    clear_rate_limit: bool = False,
) -> None:
    details: dict[str, object] = {}
    if enabled is not None and enabled != source.enabled:
        source.enabled = enabled
        details["enabled"] = enabled
    if rate_limit is not None or clear_rate_limit:
        source.rate_limit_per_second = rate_limit
        details["rate_limit_per_second"] = rate_limit
    if not details:
        return
    await changes.announce(session)
    await audit.record(
        session,
        actor=actor,
        workspace_id=source.workspace_id,
        action="source.updated",
        target=f"source:{source.id}",
        details=details,
    )


async def rotate_write_key(
    session: AsyncSession, source: Source, *, actor: str, grace: timedelta
) -> Rotated:
    """A new write key; the current one keeps working for `grace` (none: revoked at once).

    Only the key being replaced gets a grace period: a key replaced earlier and still in its
    grace period stops now, so a source never has more than two working keys.
    """
    if grace < timedelta(0):
        raise InvalidRequest("the grace period cannot be negative", code="invalid_grace")
    write_key = generate_write_key()
    expires_at = datetime.now(UTC) + grace if grace else None
    source.previous_write_key_hash = source.write_key_hash if expires_at else None
    source.previous_write_key_expires_at = expires_at
    source.write_key_hash = hash_key(write_key)
    await session.flush()
    await changes.announce(session)
    await audit.record(
        session,
        actor=actor,
        workspace_id=source.workspace_id,
        action="source.key_rotated" if expires_at else "source.key_revoked",
        target=f"source:{source.id}",
        details={"grace_seconds": int(grace.total_seconds())},
    )
    return Rotated(secret=write_key, previous_expires_at=expires_at)


async def rotate_api_key(
    session: AsyncSession, key: ApiKey, *, actor: str, grace: timedelta
) -> tuple[ApiKey, Rotated]:
    """A new key of the same name; the replaced one works for `grace`, then is refused."""
    if key.revoked_at is not None:
        raise InvalidRequest("a revoked key cannot be rotated", code="key_revoked")
    if grace < timedelta(0):
        raise InvalidRequest("the grace period cannot be negative", code="invalid_grace")
    secret = generate_secret("pgk")
    replacement = ApiKey(
        id=uuid.uuid4(), workspace_id=key.workspace_id, name=key.name, key_hash=hash_key(secret)
    )
    session.add(replacement)
    now = datetime.now(UTC)
    expires_at = now + grace
    if key.expires_at is None or key.expires_at > expires_at:
        key.expires_at = expires_at
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        workspace_id=key.workspace_id,
        action="api_key.rotated",
        target=f"api_key:{key.id}",
        details={"replacement": str(replacement.id), "grace_seconds": int(grace.total_seconds())},
    )
    return replacement, Rotated(secret=secret, previous_expires_at=key.expires_at)


async def revoke_api_key(session: AsyncSession, key: ApiKey, *, actor: str) -> None:
    """Refused from the next request on, by every replica (API keys are not cached)."""
    if key.revoked_at is not None:
        return
    key.revoked_at = datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        workspace_id=key.workspace_id,
        action="api_key.revoked",
        target=f"api_key:{key.id}",
    )


def api_key_is_valid(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)
