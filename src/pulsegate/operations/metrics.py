"""Prometheus metrics (prometheus-client): what the process counts, and what the database
holds, read at each scrape.

Counters and histograms live in the process that counts them. Under `serve --workers N`
several processes count, so the CLI sets `PROMETHEUS_MULTIPROC_DIR` and each scrape sums
every process's files (prometheus-client's multiprocess mode); otherwise the process's own
registry is read. Gauges of the database (backlog, projector lag, deliveries by status) are
queried at scrape time, so every process reports the same values.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pulsegate.jobs.runner import JobObserver
from pulsegate.operations.repository import ArchiveState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class Metrics(JobObserver):
    """The process's instruments, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "pulsegate_http_request_duration_seconds",
            "HTTP requests by method, route template and status, with their duration",
            ["method", "route", "status"],
            registry=r,
        )
        self.received = Counter(
            "pulsegate_messages_received",
            "Messages received, by type ('unknown' when the message has none)",
            ["type"],
            registry=r,
        )
        self.stored = Counter(
            "pulsegate_messages_stored",
            "Messages acknowledged as stored in the log, by type "
            "(a duplicate messageId is acknowledged and stored once)",
            ["type"],
            registry=r,
        )
        self.suppressed = Counter(
            "pulsegate_messages_suppressed",
            "Messages acknowledged and dropped: they name an erased, suppressed id, by type",
            ["type"],
            registry=self.registry,
        )
        self.refused = Counter(
            "pulsegate_messages_refused",
            "Messages refused (and kept with their reasons), by type and reason code",
            ["type", "reason"],
            registry=r,
        )
        self.batch_messages = Histogram(
            "pulsegate_writer_batch_messages",
            "Messages per group-commit transaction",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.job_seconds = Histogram(
            "pulsegate_job_duration_seconds",
            "Job runs by job and final status",
            ["job", "status"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.job_failures = Counter(
            "pulsegate_job_failures",
            "Job runs that failed or were interrupted",
            ["job"],
            registry=r,
        )
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._stored_children: dict[str, tuple[Any, Any]] = {}

    def job_finished(self, job: str, status: str, seconds: float) -> None:
        self.job_seconds.labels(job, status).observe(seconds)
        if status not in ("succeeded", "idle"):
            self.job_failures.labels(job).inc()

    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        # `labels()` takes a lock and builds its key on every call: the hot path keeps the
        # children it has seen (route templates and statuses: a bounded set).
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.request_seconds.labels(method, route, str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def messages_stored(self, types: Iterable[str]) -> None:
        # Counted per label first: a batch of 100 costs one increment per type, not 200.
        for message_type, count in collections.Counter(types).items():
            children = self._stored_children.get(message_type)
            if children is None:
                children = (self.received.labels(message_type), self.stored.labels(message_type))
                self._stored_children[message_type] = children
            children[0].inc(count)
            children[1].inc(count)

    def messages_suppressed(self, types: Iterable[str]) -> None:
        for message_type, count in collections.Counter(types).items():
            self.received.labels(message_type).inc(count)
            self.suppressed.labels(message_type).inc(count)

    def messages_refused(self, refusals: Iterable[tuple[str, str]]) -> None:
        """(type, first reason code) of each refused message."""
        for (message_type, reason), count in collections.Counter(refusals).items():
            self.received.labels(message_type).inc(count)
            self.refused.labels(message_type, reason).inc(count)

    def batch_committed(self, messages: int) -> None:
        self.batch_messages.observe(messages)

    def render(self, snapshot: DatabaseSnapshot) -> bytes:
        registry = self.registry
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        database = CollectorRegistry()
        database.register(snapshot)
        return generate_latest(registry) + generate_latest(database)


@dataclass(frozen=True, slots=True, eq=False)  # hashable by identity: a registry keys on it
class DatabaseSnapshot(Collector):
    backlog: int
    projector_lag_seconds: float
    deliveries: dict[str, int]
    rejected: int
    table_bytes: dict[str, int]
    archive: ArchiveState

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "pulsegate_inbound_backlog_messages",
            "Stored messages the projector has not applied yet",
            value=self.backlog,
        )
        yield GaugeMetricFamily(
            "pulsegate_projector_lag_seconds",
            "Age of the oldest message not applied yet (0 when caught up)",
            value=self.projector_lag_seconds,
        )
        deliveries = GaugeMetricFamily(
            "pulsegate_deliveries", "Outbox deliveries by status", labels=["status"]
        )
        for status in ("pending", "sent", "dead"):
            deliveries.add_metric([status], self.deliveries.get(status, 0))
        yield deliveries
        yield GaugeMetricFamily(
            "pulsegate_rejected_messages",
            "Refused messages kept for inspection and replay",
            value=self.rejected,
        )
        tables = GaugeMetricFamily(
            "pulsegate_table_bytes",
            "Bytes on disk of each table that grows, indexes included",
            labels=["table"],
        )
        for table, size in sorted(self.table_bytes.items()):
            tables.add_metric([table], size)
        yield tables
        yield GaugeMetricFamily(
            "pulsegate_archive_days_waiting",
            "Days of the log past the hot window still in the database (archive lag)",
            value=self.archive.days_waiting,
        )
        oldest = self.archive.oldest_hot_day
        yield GaugeMetricFamily(
            "pulsegate_log_oldest_day_age_days",
            "Age in days of the oldest day of the log still in the database",
            value=(datetime.now(UTC).date() - oldest).days if oldest else 0,
        )
        yield GaugeMetricFamily(
            "pulsegate_archive_failing",
            "1 when the newest archive attempt of a day still waiting failed",
            value=int(self.archive.last_error is not None),
        )
