"""The daily `retention` job: partitions ahead, the log archived, every table to its window.

How long each table keeps its rows, in whole UTC days (settings, with each workspace's
override for its plan in `workspaces.<name>_retention_days`):

| what | setting | default | how it leaves |
| --- | --- | --- | --- |
| the hot log (`inbound_messages`) | `PULSEGATE_LOG_RETENTION_DAYS` | 30 | archived, then dropped |
| events | `PULSEGATE_EVENTS_RETENTION_DAYS` | 395 (13 months) | dropped |
| refused messages | `PULSEGATE_REFUSED_RETENTION_DAYS` | 30 | dropped |
| sent and skipped deliveries | `PULSEGATE_DELIVERIES_RETENTION_DAYS` | 30 | dropped |
| the dedup window (`message_ids`) | `PULSEGATE_DEDUP_WINDOW_DAYS` | 7 | dropped |

Sessions, daily usage, metric history and health-score history are small (a row per session
or per account and day) and are kept.

Partitions are shared by every workspace, so they follow the global setting. A workspace that
keeps longer has its rows of a dropped day moved into the table's default partition first; a
workspace that keeps shorter has its rows deleted once past its own window (for the log, only
once archived). Both are one workspace's rows, through its workspace-first keys.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.settings import Settings
from pulsegate.storage import archive, partitions
from pulsegate.storage.stores import ArchiveStore, open_store

# The tables whose retention a workspace may override, by the name of its override column.
OVERRIDES = {
    "log": "inbound_messages",
    "events": "events",
    "refused": "rejected_messages",
    "deliveries": "deliveries",
}


def store_for(settings: Settings) -> ArchiveStore:
    secret = settings.archive_s3_secret_access_key
    return open_store(
        settings.archive,
        endpoint_url=settings.archive_s3_endpoint_url,
        region=settings.archive_s3_region,
        access_key_id=settings.archive_s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
    )


def global_days(settings: Settings) -> dict[str, int | None]:
    """Each time-partitioned table's retention, as `partitions.maintain` takes it."""
    return {
        # The log's days are dropped by the archive, once verified there.
        "inbound_messages": settings.log_retention_days,
        "message_ids": settings.dedup_window_days + 1,
        "events": settings.events_retention_days,
        "rejected_messages": settings.refused_retention_days,
        "deliveries": settings.deliveries_retention_days,
    }


async def overrides(engine: AsyncEngine) -> dict[str, dict[uuid.UUID, int]]:
    """The workspaces' own retention, by table."""
    columns = ", ".join(f"{name}_retention_days" for name in OVERRIDES)
    found: dict[str, dict[uuid.UUID, int]] = {table: {} for table in OVERRIDES.values()}
    async with engine.connect() as connection:
        rows = await connection.exec_driver_sql(
            f"SELECT id, {columns} FROM workspaces WHERE num_nonnulls({columns}) > 0"
        )
        for row in rows.mappings():
            for name, table in OVERRIDES.items():
                if row[f"{name}_retention_days"] is not None:
                    found[table][row["id"]] = row[f"{name}_retention_days"]
    return found


async def run(
    engine: AsyncEngine, settings: Settings, store: ArchiveStore, *, now: datetime
) -> dict[str, object]:
    """Partitions made and dropped, then the log archived; raises `archive.ArchiveError` after
    the rest is done when a day of the log could not be archived (it stays, and shows on
    `/admin/health`)."""
    today = now.astimezone(UTC).date()
    plans = await overrides(engine)
    tables = await partitions.maintain(
        engine, today=today, retention_days=global_days(settings), overrides=plans
    )
    archived = await archive.run(
        engine,
        store,
        today=today,
        hot_days=settings.log_retention_days,
        overrides=plans["inbound_messages"],
        now=now,
    )
    if archived.days_failed:
        raise archive.ArchiveError(
            f"{archived.days_failed} days of the log could not be archived and stay "
            f"(see archive_days); done: {asdict(archived)}"
        )
    return {**tables, "archive": asdict(archived)}
