"""Operations: liveness and readiness for orchestrators, metrics for Prometheus, and the
operator's overview (admin token)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.api.auth import AdminOnly
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.errors import ServiceUnavailable
from pulsegate.operations import service
from pulsegate.operations.metrics import CONTENT_TYPE, Metrics
from pulsegate.operations.schemas import AdminHealth

router = APIRouter(tags=["operations"], route_class=StrictJsonRoute)

METRICS_EXAMPLE = """\
# HELP pulsegate_messages_stored_total Messages acknowledged as stored in the log, by type \
(a duplicate messageId is acknowledged and stored once)
# TYPE pulsegate_messages_stored_total counter
pulsegate_messages_stored_total{type="track"} 1843.0
# HELP pulsegate_projector_lag_seconds Age of the oldest message not applied yet (0 when \
caught up)
# TYPE pulsegate_projector_lag_seconds gauge
pulsegate_projector_lag_seconds 0.4
"""


@router.get(
    "/healthz",
    summary="The process is alive",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> dict[str, str]:
    """Answers 200 while the process runs, without touching the database: a liveness probe."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    responses={
        200: {
            "content": {"application/json": {"example": {"status": "ready", "migration": "0031"}}}
        }
    },
)
async def readyz(request: Request) -> dict[str, str]:
    """200 when the database answers and is migrated to head; 503 `database_unavailable` or
    `not_migrated` otherwise. A readiness probe for load balancers and the container's health
    check."""
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


@router.get(
    "/metrics",
    summary="Prometheus text format",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"example": METRICS_EXAMPLE}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: messages received, stored, refused and suppressed by type, HTTP
    latency by route template, writer batch sizes, job durations and failures, and, read from the
    database at each scrape, the backlog, projector lag, deliveries by status, refused messages,
    table sizes and the archive's state. Summed over `serve`'s processes."""
    metrics_: Metrics = request.app.state.metrics
    async with unit_of_work(request.app.state.engine) as session:
        snapshot = await service.snapshot(session, hot_days=request.app.state.log_retention_days)
    return Response(metrics_.render(snapshot), media_type=CONTENT_TYPE)


@router.get(
    "/admin/health",
    dependencies=[AdminOnly],
    tags=["admin"],
    summary="Backlog, projector lag, rejected counts, outbox, last run of every job, version",
)
async def admin_health(request: Request) -> AdminHealth:
    """The operator's view: `status` (`ok`, or `attention` with `problems`), the inbound backlog and
    projector lag, refused messages, the outbox, the last run of every job, storage and the
    archive, the version and the migration. Read at a cost that does not grow with the log."""
    state = request.app.state
    async with unit_of_work(state.engine) as session:
        return await service.admin_health(
            session,
            job_names=list(state.job_runner.jobs),
            migration=state.migration_head,
            writer_pending=state.writer.pending_messages,
            hot_days=state.log_retention_days,
        )
