"""The group-commit writer: back-pressure and draining on shutdown, against the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import create_engine
from pulsegate.errors import ServiceUnavailable
from pulsegate.ingest.repository import InboundRow
from pulsegate.ingest.writer import GroupCommitWriter
from pulsegate.settings import Settings
from tests.support.database import Rows
from tests.support.tenants import Tenant


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    yield engine
    await engine.dispose()


def row(tenant: Tenant, message_id: str) -> InboundRow:
    now = datetime.now(UTC)
    return InboundRow(
        workspace_id=tenant.workspace_id,
        source_id=tenant.source_id,
        message_id=message_id,
        type="track",
        received_at=now,
        timestamp=now,
        message={"type": "track", "messageId": message_id, "userId": "u", "event": "e"},
        warnings=None,
    )


async def test_full_writer_answers_503_overloaded(engine: AsyncEngine, tenant: Tenant) -> None:
    writer = GroupCommitWriter(engine, max_pending=3)
    await writer.start()
    try:
        with pytest.raises(ServiceUnavailable) as refused:
            await writer.write([row(tenant, f"m-{i}") for i in range(4)], [])
        assert refused.value.code == "overloaded"
        assert refused.value.headers == {"Retry-After": "1"}
        await writer.write([row(tenant, "fits")], [])  # room is left for what fits
    finally:
        await writer.stop()


async def test_stop_stores_everything_already_accepted(
    engine: AsyncEngine, tenant: Tenant, rows: Rows
) -> None:
    # A long collect delay keeps writes waiting in the queue when stop() is called.
    writer = GroupCommitWriter(engine, max_delay=0.2, max_messages=10, concurrency=1)
    await writer.start()
    writes = [asyncio.create_task(writer.write([row(tenant, f"drain-{i}")], [])) for i in range(50)]
    await asyncio.sleep(0)  # let every write enqueue
    await writer.stop()
    await asyncio.gather(*writes)  # none failed
    stored = {r["message_id"] for r in rows.inbound(tenant.workspace_id)}
    assert stored == {f"drain-{i}" for i in range(50)}
    with pytest.raises(ServiceUnavailable) as late:
        await writer.write([row(tenant, "too-late")], [])
    assert late.value.code == "shutting_down"


async def test_duplicates_in_one_flush_are_stored_once(
    engine: AsyncEngine, tenant: Tenant, rows: Rows
) -> None:
    writer = GroupCommitWriter(engine, max_delay=0.05)
    await writer.start()
    try:
        same = str(uuid.uuid4())
        await asyncio.gather(*(writer.write([row(tenant, same)], []) for _ in range(5)))
    finally:
        await writer.stop()
    assert [r["message_id"] for r in rows.inbound(tenant.workspace_id)] == [same]
