"""A gateway living through days on a simulated clock: each morning the `retention` job, each
noon a day's messages stored and projected. For tests of partitions, retention and the archive,
on a database of their own (they drop whole days, every workspace's rows with them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.ingest.prepare import Arrival, prepare_message
from pulsegate.ingest.repository import InboundRow, insert_inbound
from pulsegate.projection.service import project_next_batch
from pulsegate.settings import Settings
from pulsegate.storage import archive, retention
from pulsegate.storage.stores import ArchiveStore, LocalStore
from tests.support.database import Rows


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def prepared(
    workspace_id: uuid.UUID, source_id: uuid.UUID, received_at: datetime, message: dict[str, Any]
) -> InboundRow:
    """A message as ingest stores it (normalised, validated), received at `received_at`."""
    arrival = Arrival(
        workspace_id=workspace_id,
        source_id=source_id,
        received_at=received_at,
        client_ip=None,
        call_type=None,
        root=None,
        max_message_bytes=32 * 1024,
        check_size=True,
        may_hold_nul=False,
    )
    row, reasons = prepare_message(message, arrival)
    assert row is not None, reasons
    return row


async def store(engine: AsyncEngine, rows: list[InboundRow]) -> None:
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()  # the writer's functions take psycopg's
        inserted = await insert_inbound(raw.driver_connection, rows, window=timedelta(days=7))
        assert inserted == len(rows)


async def project(engine: AsyncEngine) -> None:
    while await project_next_batch(engine):
        pass


async def morning(
    engine: AsyncEngine, settings: Settings, store_: ArchiveStore, day: date
) -> dict[str, object]:
    """The daily `retention` job, as it runs at 04:30."""
    return await retention.run(engine, settings, store_, now=at(day, 4))


def add_source(rows: Rows, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    [source] = rows.query(
        "INSERT INTO sources (id, workspace_id, name, write_key_hash) VALUES (%s, %s, %s, %s) "
        "RETURNING id",
        uuid.uuid4(),
        workspace_id,
        name,
        uuid.uuid4().hex,
    )
    return uuid.UUID(str(source["id"]))


def log_days(rows: Rows) -> list[date]:
    names = rows.query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'inbound_messages'::regclass "
        "AND c.relname <> 'inbound_messages_default'"
    )
    return sorted(date.fromisoformat(n["name"].rsplit("_p", 1)[1]) for n in names)


def archived_lines(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Every object under a local archive, by key, as its list of messages."""
    local = LocalStore(root)
    return {
        str(path.relative_to(root)): [
            orjson.loads(line) for line in archive.iter_lines(local, str(path.relative_to(root)))
        ]
        for path in sorted(root.rglob("*.gz"))
    }
