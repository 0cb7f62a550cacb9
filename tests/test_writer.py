"""The group-commit writer: back-pressure and draining on shutdown, against the real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from pulsegate.errors import ServiceUnavailable
from pulsegate.ingest.connections import application_name
from pulsegate.ingest.repository import InboundRow
from pulsegate.ingest.writer import GroupCommitWriter
from tests.support.database import Rows
from tests.support.tenants import Tenant


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


async def test_full_writer_answers_503_overloaded(database_url: str, tenant: Tenant) -> None:
    writer = GroupCommitWriter(database_url, max_pending=3)
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
    database_url: str, tenant: Tenant, rows: Rows
) -> None:
    # A long collect delay keeps writes waiting in the queue when stop() is called.
    writer = GroupCommitWriter(database_url, max_delay=0.2, max_messages=10, concurrency=1)
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
    database_url: str, tenant: Tenant, rows: Rows
) -> None:
    writer = GroupCommitWriter(database_url, max_delay=0.05)
    await writer.start()
    try:
        same = str(uuid.uuid4())
        await asyncio.gather(*(writer.write([row(tenant, same)], []) for _ in range(5)))
    finally:
        await writer.stop()
    assert [r["message_id"] for r in rows.inbound(tenant.workspace_id)] == [same]


async def test_a_flush_with_a_retried_message_stores_the_rest_once(
    database_url: str, tenant: Tenant, rows: Rows
) -> None:
    """A flush is first stored as if every id were new; the week's unique index refuses one
    already stored, and the flush is stored again skipping it."""
    writer = GroupCommitWriter(database_url)
    await writer.start()
    try:
        await writer.write([row(tenant, "sent-before")], [])
        await writer.write(
            [row(tenant, "new-1"), row(tenant, "sent-before"), row(tenant, "new-2")], []
        )
        await writer.write([row(tenant, "new-3")], [])  # the next flush goes on as new
    finally:
        await writer.stop()
    stored = [r["message_id"] for r in rows.inbound(tenant.workspace_id)]
    assert sorted(stored) == ["new-1", "new-2", "new-3", "sent-before"]
    with psycopg.connect(database_url) as conn:
        ids = conn.execute(
            "SELECT message_id FROM message_ids WHERE workspace_id = %s ORDER BY message_id",
            (tenant.workspace_id,),
        ).fetchall()
    assert [message_id for (message_id,) in ids] == ["new-1", "new-2", "new-3", "sent-before"]


async def test_two_writers_storing_the_same_id_at_once_store_it_once(
    database_url: str, tenant: Tenant, rows: Rows
) -> None:
    """Each writer's statement waits for the other's insert of the id to commit, then one
    of them is refused by the unique index and stores its flush skipping the id."""
    writers = [GroupCommitWriter(database_url) for _ in range(2)]
    for writer in writers:
        await writer.start()
    try:
        for n in range(20):
            same = f"both-{n}"
            await asyncio.gather(
                *(
                    writer.write([row(tenant, same), row(tenant, f"{same}-{i}")], [])
                    for i, writer in enumerate(writers)
                )
            )
    finally:
        for writer in writers:
            await writer.stop()
    stored = [r["message_id"] for r in rows.inbound(tenant.workspace_id)]
    assert sorted(stored) == sorted(
        [f"both-{n}" for n in range(20)] + [f"both-{n}-{i}" for n in range(20) for i in range(2)]
    )


async def test_a_write_made_on_the_next_turn_of_the_loop_joins_the_flush(
    database_url: str, tenant: Tenant
) -> None:
    """With no delay set the writer still waits one turn of the event loop before it flushes,
    so the requests read together are stored together: one transaction, one fsync."""
    writer = GroupCommitWriter(database_url, max_delay=0, concurrency=1)
    await writer.start()

    async def one_turn_later() -> None:
        await asyncio.sleep(0)
        await writer.write([row(tenant, "second")], [])

    try:
        await asyncio.gather(writer.write([row(tenant, "first")], []), one_turn_later())
    finally:
        await writer.stop()
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT message_id, xmin::text FROM inbound_messages WHERE workspace_id = %s",
            (tenant.workspace_id,),
        ).fetchall()
    assert sorted(message_id for message_id, _ in stored) == ["first", "second"]
    assert len({transaction for _, transaction in stored}) == 1


async def test_a_connection_the_server_closed_between_flushes_is_replaced(
    database_url: str, tenant: Tenant, rows: Rows
) -> None:
    """The writer's connections are not pinged before a flush: one that a restart or an
    operator closed fails, and the flush runs again on a new connection."""
    writer = GroupCommitWriter(database_url, concurrency=1)
    await writer.start()
    try:
        await writer.write([row(tenant, "before")], [])
        with psycopg.connect(database_url, autocommit=True) as admin:
            closed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (application_name(),),
            ).fetchall()
        assert closed == [(True,)]
        await writer.write([row(tenant, "after")], [])
    finally:
        await writer.stop()
    stored = sorted(r["message_id"] for r in rows.inbound(tenant.workspace_id))
    assert stored == ["after", "before"]
