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
        return
    engine: AsyncEngine = request.app.state.engine
    async with unit_of_work(engine) as session:
        if await workspaces_service.is_admin_token(session, token):
            return
    raise Unauthorized("the admin token is not valid", code="invalid_admin_token")


AdminOnly = Depends(require_admin)


async def require_workspace(
    request: Request, token: Annotated[str, Depends(bearer_token)]
) -> uuid.UUID:
    """The workspace whose API key authorises the request; every query is scoped by it."""
    engine: AsyncEngine = request.app.state.engine
    async with unit_of_work(engine) as session:
        workspace_id = await workspaces_service.workspace_for_api_key(session, token)
    if workspace_id is None:
        raise Unauthorized("the API key is not valid", code="invalid_api_key")
    return workspace_id


WorkspaceId = Annotated[uuid.UUID, Depends(require_workspace)]
