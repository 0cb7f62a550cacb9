"""The audit log: every administrative action, who took it and when.

An entry names its actor (`admin:<token name>`, `api_key:<key id>` or `cli`), the
workspace, the action (dotted, like log events: `source.rotated`) and its target, with details
that never hold a secret or personal data.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    actor: str,
    workspace_id: uuid.UUID | None,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Added to the caller's transaction: the entry exists exactly when the action does."""
    session.add(
        AuditEntry(
            actor=actor,
            workspace_id=workspace_id,
            action=action,
            target=target,
            details=details or {},
        )
    )
    await session.flush()


async def list_entries(
    session: AsyncSession, *, workspace_id: uuid.UUID | None, before_id: int | None, limit: int
) -> list[AuditEntry]:
    """Newest first; one workspace's by `ix_audit_log_workspace`, all by the primary key."""
    query = select(AuditEntry)
    if workspace_id is not None:
        query = query.where(AuditEntry.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    query = query.order_by(AuditEntry.id.desc()).limit(limit)
    return list(await session.scalars(query))
