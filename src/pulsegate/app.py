"""The ASGI application: routers, middleware and the lifespan of shared resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from pulsegate import __version__
from pulsegate.accounts import routes as accounts_routes
from pulsegate.api import reference
from pulsegate.api.errors import install_error_handlers
from pulsegate.api.examples import with_examples
from pulsegate.api.json_body import with_raw_body_schemas
from pulsegate.api.middleware import RequestLog
from pulsegate.api.openapi import with_errors_and_security, with_parameter_descriptions
from pulsegate.connectors import routes as connectors_routes
from pulsegate.console import fields_routes as console_fields_routes
from pulsegate.console import health_routes as console_health_routes
from pulsegate.console import routes as console_routes
from pulsegate.console import setup_routes as console_setup_routes
from pulsegate.console.routes import install_console_handlers
from pulsegate.console.session import SessionSigner
from pulsegate.db import migrate
from pulsegate.db.engine import create_engine
from pulsegate.destinations import routes as destinations_routes
from pulsegate.events import routes as events_routes
from pulsegate.fields import routes as fields_routes
from pulsegate.health_scores import routes as health_scores_routes
from pulsegate.ingest import routes as ingest_routes
from pulsegate.ingest.asgi import SegmentIngress
from pulsegate.ingest.auth import SourceDirectory
from pulsegate.ingest.openapi import with_segment_routes
from pulsegate.ingest.rate_limit import RateLimiter
from pulsegate.ingest.requests import IngestLimits
from pulsegate.ingest.service import IngestService
from pulsegate.ingest.writer import GroupCommitWriter
from pulsegate.jobs import routes as jobs_routes
from pulsegate.jobs.runner import finish_or_cancel
from pulsegate.jobs.scheduler import build_runner, schedule, schedules, stop_jobs
from pulsegate.logging import configure_logging
from pulsegate.messages import routes as messages_routes
from pulsegate.operations import routes as operations_routes
from pulsegate.operations.metrics import Metrics
from pulsegate.privacy import routes as privacy_routes
from pulsegate.privacy.suppression import SuppressionList
from pulsegate.projection.projector import start_projector
from pulsegate.rejected import routes as rejected_routes
from pulsegate.reverse_sync import routes as reverse_sync_routes
from pulsegate.security import SecretBox, load_or_create_secret_key
from pulsegate.serving import settle_garbage_collector
from pulsegate.sessions import routes as sessions_routes
from pulsegate.settings import Settings
from pulsegate.storage import partitions
from pulsegate.storage.retention import store_for
from pulsegate.workspaces import routes as workspaces_routes
from pulsegate.workspaces.changes import ChangeListener

log = structlog.get_logger(__name__)

API_DESCRIPTION = """\
Three kinds of credentials, one per part of the API:

- `/v1/...`, the Segment-compatible tracking API: a source's **write key** as the Basic-auth
  user name (as Segment's SDKs send it), or `writeKey` in the body, `?writeKey=`, `X-Write-Key`.
- `/api/v1/...`, the REST API: a workspace **API key**, `Authorization: Bearer pgk_...`; every
  answer is scoped to its workspace.
- `/admin/...`: the operator's **admin token**, `Authorization: Bearer ...`.

Every error is `{"code", "message", "details"}` with a stable `code` (the tracking API adds
`"success": false`). Lists answer `{"items": [...], "next_cursor": ...}`: pass `cursor` to get
the next page.
"""


class PulsegateApp(FastAPI):
    """FastAPI with the Segment routes answered in front of the whole middleware stack.

    The Segment paths are the hot path and `SegmentIngress` renders its own errors, so it
    sits in front of FastAPI, behind only the request log (id, log line, latency); every
    other request goes through FastAPI as usual.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What FastAPI's and Starlette's `__call__` do that pulsegate uses (no root_path, no
        # OpenTelemetry), without their two frames on every request: each await of a
        # request passes through every frame of its chain.
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        ingress = SegmentIngress(super().build_middleware_stack(), service_holder=self.state)
        return RequestLog(ingress, metrics=self.state.metrics)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            spec = with_errors_and_security(with_raw_body_schemas(super().openapi()))
            spec = with_parameter_descriptions(spec)
            self.openapi_schema = with_examples(with_segment_routes(spec))
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Without arguments (uvicorn's `--factory`), settings come from the env.

    `settings.database_url` must be resolved: the CLI starts the embedded PostgreSQL, if any,
    before it builds the app.
    """
    if settings is None:  # an entry point: uvicorn's factory in a `serve --workers N` process
        settings = Settings()
        configure_logging(level=settings.log_level, log_format=settings.log_format)
    if settings.database_url is None:
        raise RuntimeError(
            "PULSEGATE_DATABASE_URL is not set; start pulsegate with `pulsegate serve`"
        )

    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.async_database_url,
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
        secret_key = (
            settings.secret_key.get_secret_value()
            if settings.secret_key
            else load_or_create_secret_key(settings.data_dir)
        )
        secret_box = SecretBox(secret_key)
        writer = GroupCommitWriter(
            settings.libpq_database_url,
            connect_timeout=settings.database_connect_timeout_seconds,
            max_messages=settings.writer_max_messages,
            max_delay=settings.writer_max_delay_ms / 1000,
            max_pending=settings.writer_max_pending,
            workspace_share=settings.writer_workspace_share,
            concurrency=settings.writer_concurrency,
            on_commit=metrics.batch_committed,
            dedup_window=timedelta(days=settings.dedup_window_days),
        )
        await writer.start()
        app.state.engine = engine
        app.state.writer = writer
        app.state.secret_box = secret_box
        app.state.timezone = settings.timezone
        app.state.imports = settings.imports
        app.state.archive_store = store_for(settings)
        app.state.log_retention_days = settings.log_retention_days
        # Work started by a request that outlives it (connector runs); cancelled at shutdown,
        # which records each as interrupted.
        app.state.background_tasks = set()
        app.state.admin_token = (
            settings.admin_token.get_secret_value() if settings.admin_token else None
        )
        app.state.migration_head = migrate.head_revision()
        try:
            await partitions.prepare(engine, today=datetime.now(UTC).date())
        except Exception:  # the database away at start: the daily job makes them, and
            # until then a day without a partition waits in the default one
            log.warning("partitions.prepare_failed", exc_info=True)
        app.state.console_signer = SessionSigner(secret_key)
        app.state.sources = SourceDirectory(engine, secret_box)
        suppressions = SuppressionList(engine)
        changes = ChangeListener(
            settings.libpq_database_url, [app.state.sources.clear, suppressions.clear]
        )
        await changes.start()
        rate_limiter = RateLimiter(engine, default_limit=settings.source_rate_limit)
        app.state.ingest = IngestService(
            directory=app.state.sources,
            writer=writer,
            rate_limiter=rate_limiter,
            suppressions=suppressions,
            limits=IngestLimits(
                max_message_bytes=settings.max_message_bytes,
                max_batch_bytes=settings.max_batch_bytes,
                max_batch_messages=settings.max_batch_messages,
            ),
            observer=metrics,
        )
        projector = await start_projector(engine, settings)
        # Manual runs (the admin API) work in every process; scheduled ones only where the
        # scheduler is enabled (`serve --workers N` leaves it to one background process).
        job_runner = build_runner(engine, settings, secret_box, observer=metrics)
        app.state.job_runner = job_runner
        app.state.job_schedules = schedules(settings)
        scheduler = schedule(job_runner, settings) if settings.scheduler_enabled else None
        if scheduler is not None:
            scheduler.start()
        settle_garbage_collector()  # what start-up built stays out of the collector's way
        log.info("app.started", version=__version__)
        try:
            yield
        finally:
            await stop_jobs(scheduler, job_runner, grace=settings.shutdown_grace_seconds)
            await finish_or_cancel(
                app.state.background_tasks, grace=settings.shutdown_grace_seconds
            )
            if projector is not None:
                await projector.stop()
            await writer.stop()  # store what was accepted before the connections go
            await changes.stop()
            await engine.dispose()
            log.info("app.stopped")

    app = PulsegateApp(
        title="pulsegate",
        version=__version__,
        summary="Segment-compatible ingestion gateway for customer-success data",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # Served by api/reference.py with local assets instead of FastAPI's CDN ones.
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry here (metrics are Prometheus): skip FastAPI's per-request checks.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    app.state.metrics = metrics
    app.include_router(operations_routes.router)
    app.include_router(reference.router)
    app.include_router(ingest_routes.router)
    app.include_router(workspaces_routes.router)
    app.include_router(events_routes.router)
    app.include_router(accounts_routes.router)
    app.include_router(fields_routes.router)
    app.include_router(sessions_routes.router)
    app.include_router(destinations_routes.router)
    app.include_router(reverse_sync_routes.router)
    app.include_router(connectors_routes.router)
    app.include_router(messages_routes.router)
    app.include_router(privacy_routes.router)
    app.include_router(rejected_routes.router)
    app.include_router(health_scores_routes.router)
    app.include_router(jobs_routes.router)
    app.include_router(console_routes.router)
    app.include_router(console_setup_routes.router)
    app.include_router(console_health_routes.router)
    app.include_router(console_fields_routes.router)
    app.mount(
        "/console/static", StaticFiles(directory=console_routes.STATIC), name="console-static"
    )
    install_console_handlers(app)
    return app
