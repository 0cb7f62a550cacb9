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
        env_prefix="PULSEGATE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL 14+ URL. When unset, an embedded PostgreSQL runs under data_dir.",
    )
    data_dir: Path = Path(".pulsegate")
    admin_token: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        default=None,
        description="Encrypts stored third-party secrets. When unset, one is generated and kept "
        "in data_dir/secret_key.",
    )
    import_dir: Path | None = Field(
        default=None,
        description="Where CSV connectors' files are read from: each workspace reads only its "
        "own folder, import_dir/<workspace id>/. Default: data_dir/imports.",
    )
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO

    session_timeout_minutes: int = Field(default=30, ge=1)
    # Time credited to the last event of every session (so a one-event session is not 0 s).
    session_tail_seconds: float = Field(default=0, ge=0)
    # The nightly chain (connector sync, health scores, reverse sync). A sixth, leading field
    # gives seconds: "*/10 * * * * *" runs it every ten seconds, for tests and demos.
    nightly_cron: str = "0 2 * * *"
    outbox_interval_seconds: int = Field(default=3, ge=1)
    session_sweep_seconds: int = Field(default=60, ge=1)
    job_runs_retention_days: int = Field(default=30, ge=1)
    # Refused messages are kept this many days (whole days, UTC), then their day's partition
    # is dropped by the daily `retention` job.
    refused_retention_days: int = Field(default=30, ge=1)
    # A message whose messageId was stored within this many days is not stored again; an
    # older duplicate is stored as a new message (Segment promises 24 hours).
    dedup_window_days: int = Field(default=7, ge=1)
    # Sent and skipped deliveries are kept this many days (by their message's day); pending,
    # dead and rejected ones are kept until retried.
    deliveries_retention_days: int = Field(default=30, ge=8)
    # The log's messages stay in the database ("hot") this many whole UTC days; then their
    # day is archived, verified, and its partition dropped (pulsegate.storage.archive).
    log_retention_days: int = Field(default=30, ge=8)
    # Events are kept this many days (13 months: a year compared with the year before), by
    # their timestamp's day.
    events_retention_days: int = Field(default=395, ge=1)
    # Where archived log days go: a directory (default data_dir/archive), file:///path, or
    # s3://bucket/prefix with the endpoint and credentials below (any S3-compatible store).
    archive_url: str | None = None
    archive_s3_endpoint_url: str | None = None
    archive_s3_region: str | None = None
    archive_s3_access_key_id: str | None = None
    archive_s3_secret_access_key: SecretStr | None = None
    # At shutdown, runs in progress get this long to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=20, ge=0)
    timezone: str = "UTC"
    scheduler_enabled: bool = True
    # Apply new inbound messages to accounts, users and events in this process.
    # Whether this process projects: `serve` (in its background process) and `worker` alike.
    projector_enabled: bool = True
    # How long the projector waits after a round that caught up: a message is projected within
    # about this long of its acknowledgement. Shorter costs CPU per message (each round has a
    # fixed cost and rewrites each active user once); bench/README.md "CPU per message".
    projector_interval_ms: float = Field(default=500, gt=0, le=60_000)
    # `serve` runs the projector and the scheduler in a `pulsegate worker` process of its own
    # (as `serve --workers N` does), so that background work neither takes CPU from the HTTP
    # process nor stalls the event loop that answers ingest; false runs them in the HTTP
    # process.
    background_process: bool = True

    max_message_bytes: int = Field(default=32 * 1024, ge=1024)
    max_batch_bytes: int = Field(default=500 * 1024, ge=1024)
    max_batch_messages: int = Field(default=2500, ge=1)
    # Messages a second each source may send (shared by every replica), unless the source
    # or its workspace sets its own (the admin API); 0: no limit. Above it: 429 with
    # Retry-After (pulsegate.ingest.rate_limit).
    source_rate_limit: int = Field(default=10_000, ge=0)

    # Group-commit writer: a flush happens when this many messages are waiting, or after
    # this many milliseconds, whichever comes first.
    writer_max_messages: int = Field(default=500, ge=1)
    writer_max_delay_ms: float = Field(default=1.0, ge=0)
    # Flushes that may run at once (each holds a database connection).
    writer_concurrency: int = Field(default=4, ge=1)
    # Messages allowed to wait for the writer before ingest answers 503 (back-pressure).
    writer_max_pending: int = Field(default=50_000, ge=1)
    # The part of that queue one workspace may hold before its writes get 429 (fair share).
    writer_workspace_share: float = Field(default=0.25, gt=0, le=1)

    database_pool_size: int = Field(default=5, ge=1)
    database_connect_timeout_seconds: int = Field(default=3, ge=1)

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
