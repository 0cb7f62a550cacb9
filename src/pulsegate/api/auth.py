"""Bearer-token authorisation for the operator endpoints."""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import unit_of_work
from pulsegate.errors import Unauthorized
from pulsegate.workspaces import service as workspaces_service


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token>", code="missing_token")
    return token.strip()


async def require_admin(request: Request, token: Annotated[str, Depends(bearer_token)]) -> None:
    """The configured PULSEGATE_ADMIN_TOKEN, or one created at first start (stored hashed)."""
    configured: str | None = request.app.state.admin_token
    if configured is not None and hmac.compare_digest(configured, token):
        request.state.actor = "admin:configured"
        return
    engine: AsyncEngine = request.app.state.engine
    async with unit_of_work(engine) as session:
        name = await workspaces_service.admin_token_name(session, token)
    if name is None:
        raise Unauthorized("the admin token is not valid", code="invalid_admin_token")
    request.state.actor = f"admin:{name}"


AdminOnly = Depends(require_admin)


async def require_workspace(
    request: Request, token: Annotated[str, Depends(bearer_token)]
) -> uuid.UUID:
    """The workspace whose API key authorises the request; every query is scoped by it.

    Looked up on every request, not cached: a revoked key is refused from the next request
    on, by every replica.
    """
    engine: AsyncEngine = request.app.state.engine
    async with unit_of_work(engine) as session:
        key = await workspaces_service.api_key_for(session, token)
    if key is None:
        raise Unauthorized("the API key is not valid", code="invalid_api_key")
    request.state.actor = f"api_key:{key.id}"
    return key.workspace_id


def actor(request: Request) -> str:
    """Who is calling, for the audit log: set by the admin or workspace authorisation."""
    return str(getattr(request.state, "actor", "unknown"))


WorkspaceId = Annotated[uuid.UUID, Depends(require_workspace)]
