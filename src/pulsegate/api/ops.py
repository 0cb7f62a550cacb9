"""Process health for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.errors import ServiceUnavailable

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated to head")
async def readyz(request: Request) -> dict[str, str]:
    engine: AsyncEngine = request.app.state.engine
    expected: str | None = request.app.state.migration_head
    try:
        async with engine.connect() as connection:
            current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as error:
        raise ServiceUnavailable(
            "the database is unreachable", code="database_unavailable"
        ) from error
    if current != expected:
        raise ServiceUnavailable(
            f"the database is at migration {current}, expected {expected}", code="not_migrated"
        )
    return {"status": "ready", "migration": str(current)}
