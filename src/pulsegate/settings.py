"""The one place configuration is read.

Only entry points (the CLI, `create_app` when used as a factory) build a `Settings`; every other
module receives the values it needs. Environment variables carry the `PULSEGATE_` prefix and may
also come from a `.env` file in the working directory.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pulsegate.sessions.sessionize import SessionRules


class LogFormat(StrEnum):
    AUTO = "auto"  # console in a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


MIN_SECRET_KEY_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def settings_problems(error: ValidationError) -> list[str]:
    """One line per invalid setting, named as it is set: `PULSEGATE_TIMEZONE: ...`."""
    return [
        f"PULSEGATE_{'_'.join(str(part) for part in e['loc']).upper()}: "
        f"{str(e['msg']).removeprefix('Value error, ')}"
        for e in error.errors()
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PULSEGATE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        # Each setting's docstring is its description: docs/configuration.md is made from them.
        use_attribute_docstrings=True,
    )

    database_url: str | None = None
    """PostgreSQL 14+ URL (`postgresql://user:password@host:5432/db`). Unset: an embedded
    PostgreSQL runs under `data_dir`."""
    data_dir: Path = Path(".pulsegate")
    """The embedded database, the generated secret key, the first start's credentials, the
    archive and imports (unless set apart below)."""
    admin_token: SecretStr | None = None
    """The operator's token for `/admin` routes and the console. Unset: one is generated at
    first start, printed once and kept in `data_dir/credentials.json`."""
    secret_key: SecretStr | None = None
    """Encrypts stored third-party secrets (webhook secrets, Freshsales API keys) and signs
    console sessions; at least 32 characters. Unset: one is generated and kept in
    `data_dir/secret_key`. Set the same one on every replica."""
    import_dir: Path | None = None
    """Where CSV connectors' files are read from: each workspace reads only its own folder,
    `import_dir/<workspace id>/`. Unset: `data_dir/imports`."""
    log_level: str = "INFO"
    """DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    log_format: LogFormat = LogFormat.AUTO
    """`json` (one JSON object a line), `console` (for people), or `auto`: console in a
    terminal, JSON otherwise."""

    session_timeout_minutes: int = Field(default=30, ge=1)
    """A session ends after a gap longer than this between two events of its key."""
    session_tail_seconds: float = Field(default=0, ge=0)
    """Time credited to the last event of every session (so a one-event session is not 0 s)."""
    nightly_cron: str = "0 2 * * *"
    """The nightly chain (connector sync, health scores, reverse sync), cron syntax in
    `timezone`. A sixth, leading field gives seconds: `*/10 * * * * *` runs it every ten
    seconds, for tests and demos."""
    outbox_interval_seconds: int = Field(default=3, ge=1)
    """How often the outbox job sends due Freshsales deliveries."""
    session_sweep_seconds: int = Field(default=60, ge=1)
    """How often the session sweep rebuilds the sessions of keys with new events."""
    job_runs_retention_days: int = Field(default=30, ge=1)
    """Job runs are kept this long (idle ones ten minutes)."""
    refused_retention_days: int = Field(default=30, ge=1)
    """Refused messages are kept this many days (whole days, UTC), then their day's partition
    is dropped by the daily `retention` job."""
    dedup_window_days: int = Field(default=7, ge=1)
    """A message whose messageId was stored within this many days is not stored again; an
    older duplicate is stored as a new message (Segment promises 24 hours)."""
    deliveries_retention_days: int = Field(default=30, ge=8)
    """Sent and skipped deliveries are kept this many days (by their message's day); pending,
    dead and rejected ones are kept until retried."""
    log_retention_days: int = Field(default=30, ge=8)
    """The log's messages stay in the database ("hot") this many whole UTC days; then their
    day is archived, verified, and its partition dropped."""
    events_retention_days: int = Field(default=395, ge=1)
    """Events are kept this many days (13 months: a year compared with the year before), by
    their timestamp's day."""
    archive_url: str | None = None
    """Where archived log days go: a directory, `file:///path`, or `s3://bucket/prefix` with
    the `archive_s3_*` settings (any S3-compatible store). Unset: `data_dir/archive`."""
    archive_s3_endpoint_url: str | None = None
    """The S3-compatible store's endpoint (MinIO, R2, ...); unset for AWS S3."""
    archive_s3_region: str | None = None
    """The S3 bucket's region."""
    archive_s3_access_key_id: str | None = None
    """The S3 access key id; unset: boto3's usual credential chain."""
    archive_s3_secret_access_key: SecretStr | None = None
    """The S3 secret access key."""
    shutdown_grace_seconds: float = Field(default=20, ge=0)
    """At shutdown, job runs in progress get this long to finish before they are cancelled."""
    timezone: str = "UTC"
    """An IANA time zone: the days of daily usage and metrics, and the nightly schedule's
    zone."""
    scheduler_enabled: bool = True
    """Whether this process runs the scheduled jobs."""
    projector_enabled: bool = True
    """Whether this process projects the log into events, accounts and users: `serve` (in its
    background process) and `worker` alike."""
    projector_interval_ms: float = Field(default=500, gt=0, le=60_000)
    """How long the projector waits after a round that caught up: a message is projected within
    about this long of its acknowledgement. Shorter costs CPU per message (each round has a
    fixed cost)."""
    background_process: bool = True
    """`serve` runs the projector and the scheduler in a `pulsegate worker` process of its own,
    so that background work neither takes CPU from the HTTP process nor stalls the event loop
    that answers ingest; false runs them in the HTTP process."""

    max_message_bytes: int = Field(default=32 * 1024, ge=1024)
    """The largest message accepted, decompressed (Segment's limit: 32 KiB)."""
    max_batch_bytes: int = Field(default=500 * 1024, ge=1024)
    """The largest request body accepted, decompressed (Segment's limit: 500 KiB)."""
    max_batch_messages: int = Field(default=2500, ge=1)
    """The most messages a batch may hold."""
    source_rate_limit: int = Field(default=10_000, ge=0)
    """Messages a second each source may send (shared by every replica), unless the source or
    its workspace sets its own (the admin API); 0: no limit. Above it: 429 with
    Retry-After."""

    writer_max_messages: int = Field(default=500, ge=1)
    """The group-commit writer flushes when this many messages are waiting..."""
    writer_max_delay_ms: float = Field(default=0, ge=0)
    """...or after this many milliseconds, whichever comes first; 0: after one turn of the
    event loop (the requests read together flush together)."""
    writer_concurrency: int = Field(default=4, ge=1)
    """Flushes that may run at once. Each has a database connection of its own, kept open
    (`pulsegate:<pid>:writer` in `pg_stat_activity`), besides `database_pool_size`."""
    writer_max_pending: int = Field(default=50_000, ge=1)
    """Messages allowed to wait for the writer before ingest answers 503 (back-pressure)."""
    writer_workspace_share: float = Field(default=0.25, gt=0, le=1)
    """The part of that queue one workspace may hold before its writes get 429 (fair share)."""

    database_pool_size: int = Field(default=5, ge=1)
    """Database connections each process keeps for everything but the writer's flushes; up
    to twice as many under load."""
    database_connect_timeout_seconds: int = Field(default=3, ge=1)
    """How long a connection attempt may take before the database counts as unavailable."""

    @field_validator("secret_key")
    @classmethod
    def _strong_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_KEY_LENGTH} characters (it encrypts stored "
                "credentials and signs console sessions); leave it unset to have one generated"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(
                f"{value!r} is not an IANA time zone (like UTC or Europe/Paris)"
            ) from error
        return value

    @property
    def session_rules(self) -> SessionRules:
        return SessionRules(
            timeout=timedelta(minutes=self.session_timeout_minutes),
            tail=timedelta(seconds=self.session_tail_seconds),
        )

    @property
    def async_database_url(self) -> str:
        """The URL with the async psycopg driver, whatever scheme the user wrote."""
        if self.database_url is None:
            raise RuntimeError("database_url is not resolved yet")
        return to_driver_url(self.database_url)

    @property
    def libpq_database_url(self) -> str:
        """The URL as psycopg (libpq) itself takes it, for connections outside SQLAlchemy."""
        return "postgresql://" + self.async_database_url.split("://", 1)[1]

    @property
    def imports(self) -> Path:
        return self.import_dir or self.data_dir / "imports"

    @property
    def archive(self) -> str:
        return self.archive_url or str(self.data_dir / "archive")


def to_driver_url(url: str) -> str:
    """Accept `postgres://`, `postgresql://` and `postgresql+psycopg://` alike."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://…")
