"""A tenant's burst slows only that tenant: per-source rate limits (429 with Retry-After,
shared by every replica) and a writer queue no workspace can fill alone."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from segment.analytics.client import Client as SegmentClient

from pulsegate.errors import RateLimited
from pulsegate.ingest.repository import InboundRow
from pulsegate.ingest.writer import GroupCommitWriter
from tests.support.database import Rows
from tests.support.http import basic
from tests.support.servers import LiveServer, new_tenant, request_log, start_server
from tests.support.tenants import ADMIN_TOKEN
from tests.support.waiting import eventually

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMIT = 100  # the flooder's messages a second


def track(user: str) -> dict[str, Any]:
    return {"userId": user, "event": "Flooded", "messageId": f"m-{uuid.uuid4()}"}


async def flood(
    url: str,
    write_key: str,
    *,
    seconds: float,
    statuses: Counter[int],
    refused_at: list[float] | None = None,
) -> None:
    """Twenty connections sending single events as fast as they are answered (the Unix time
    of each 429 appended to `refused_at`)."""

    async def one_connection() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                response = await http.post(
                    "/v1/track", json=track("flooder"), headers=basic(write_key)
                )
                statuses[response.status_code] += 1
                if response.status_code == 429:
                    if refused_at is not None:
                        refused_at.append(time.time())
                    assert response.json()["code"] == "rate_limited"
                    assert int(response.headers["Retry-After"]) >= 1

    await asyncio.gather(*(one_connection() for _ in range(20)))


def limited_server(database_url: str, data_dir: Path) -> LiveServer:
    return start_server(database_url, data_dir, PULSEGATE_ADMIN_TOKEN=ADMIN_TOKEN)


async def set_limit(server: LiveServer, workspace_id: str, limit: int) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.patch(
            f"/admin/workspaces/{workspace_id}",
            json={"rate_limit_per_second": limit},
            headers=ADMIN,
        )
        assert response.json()["rate_limit_per_second"] == limit, response.text


async def test_a_flooding_tenant_gets_429_and_the_other_keeps_getting_200(
    database_url: str, tmp_path: Path, rows: Rows
) -> None:
    server = limited_server(database_url, tmp_path / "data")
    try:
        flooder, other = new_tenant(server), new_tenant(server)
        await set_limit(server, flooder["workspace_id"], LIMIT)
        flood_statuses: Counter[int] = Counter()
        other_statuses: Counter[int] = Counter()

        async def steady_other() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                for _ in range(60):
                    response = await http.post(
                        "/v1/track", json=track("other"), headers=basic(other["write_key"])
                    )
                    other_statuses[response.status_code] += 1
                    await asyncio.sleep(0.03)

        # The official SDK, on the flooder's source while it floods: it is answered 429,
        # retries with its back-off, and delivers every message once the flood ends.
        errors: list[Any] = []
        sdk = SegmentClient(
            flooder["write_key"],
            host=server.url,
            on_error=lambda error, batch: errors.append(error),
            upload_interval=0.05,
            max_retries=10,
        )

        refused_at: list[float] = []

        async def sdk_sends() -> list[str]:
            # Into a second whose window the flood has already filled (the server refuses the
            # rest of it), early enough that the SDK's first upload, within its 0.05 s
            # interval, lands in that second too. (Sent at a fixed time into the flood, the
            # uploads of a slow machine could all fall before the flood filled a window.)
            await eventually(
                lambda: (
                    bool(refused_at)
                    and int(refused_at[-1]) == int(time.time())
                    and time.time() % 1 < 0.5
                ),
                timeout=2.5,
                interval=0.002,
                what="a second the flood filled in its first half",
            )
            sent = []
            for _ in range(200):
                message_id = f"sdk-{uuid.uuid4()}"
                sdk.track(user_id="sdk-user", event="From The SDK", message_id=message_id)
                sent.append(message_id)
            return sent

        _, _, sent = await asyncio.gather(
            flood(
                server.url,
                flooder["write_key"],
                seconds=3,
                statuses=flood_statuses,
                refused_at=refused_at,
            ),
            steady_other(),
            sdk_sends(),
        )
        await asyncio.to_thread(sdk.flush)
        sdk.shutdown()
    finally:
        server.stop()

    assert other_statuses == Counter({200: 60})
    assert flood_statuses[429] > flood_statuses[200] > 0
    assert set(flood_statuses) == {200, 429}
    assert errors == []
    # The SDK's own requests (it sends /v1/batch) were refused at least once.
    batches = [line for line in request_log(server.log_path) if line["path"] == "/v1/batch"]
    assert {line["status"] for line in batches} == {200, 429}
    stored = rows.query(
        "SELECT message_id FROM inbound_messages WHERE workspace_id = %s "
        "AND message->>'userId' = 'sdk-user'",
        uuid.UUID(flooder["workspace_id"]),
    )
    assert sorted(row["message_id"] for row in stored) == sorted(sent)
    # What the flooder got stored stays near its limit: 3 s of flood, at most a few windows.
    [flooded] = rows.query(
        "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s "
        "AND message->>'userId' = 'flooder'",
        uuid.UUID(flooder["workspace_id"]),
    )
    assert flooded["n"] == flood_statuses[200]


async def test_the_limit_is_shared_by_every_replica(
    database_url: str, tmp_path: Path, rows: Rows
) -> None:
    """Two replicas flooded alike store about one limit a second between them, not one
    each."""
    first = limited_server(database_url, tmp_path / "one")
    second = limited_server(database_url, tmp_path / "two")
    try:
        flooder = new_tenant(first)
        await set_limit(first, flooder["workspace_id"], LIMIT)
        statuses: Counter[int] = Counter()
        await asyncio.gather(
            *(
                flood(server.url, flooder["write_key"], seconds=4, statuses=statuses)
                for server in (first, second)
            )
        )
    finally:
        first.stop()
        second.stop()
    workspace_id = uuid.UUID(flooder["workspace_id"])
    [stored] = rows.query(
        "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s", workspace_id
    )
    assert stored["n"] == statuses[200]
    assert statuses[429] > statuses[200]
    # The windows as the replicas counted them: one limit each, over by at most one
    # reservation (a tenth of it), though each replica alone would have admitted a limit.
    windows = rows.query(
        "SELECT second, messages FROM rate_windows WHERE workspace_id = %s", workspace_id
    )
    assert len(windows) >= 4
    assert max(window["messages"] for window in windows) <= LIMIT * 1.1
    assert sum(window["messages"] for window in windows) >= stored["n"]


async def test_the_writer_queue_is_shared_fairly(database_url: str, rows: Rows) -> None:
    """While the database is stuck (the dedup table locked), a workspace holding its share of
    the waiting messages gets 429 and another still gets in; all are stored once it frees."""
    writer = GroupCommitWriter(database_url, max_pending=400, workspace_share=0.25, max_messages=50)
    await writer.start()
    greedy, modest = uuid.uuid4(), uuid.uuid4()
    try:
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE message_ids IN ACCESS EXCLUSIVE MODE")
            waiting = [asyncio.create_task(writer.write(rows_of(greedy, 50), [])) for _ in range(2)]
            await eventually(lambda: writer.pending_messages == 100, what="two writes waiting")
            with pytest.raises(RateLimited) as refused:
                await writer.write(rows_of(greedy, 50), [])
            assert refused.value.headers["Retry-After"] == "1"
            waiting.append(asyncio.create_task(writer.write(rows_of(modest, 50), [])))
            await eventually(lambda: writer.pending_messages == 150, what="the modest write")
            blocker.rollback()
        await asyncio.gather(*waiting)
    finally:
        await writer.stop()
    for workspace_id, count in ((greedy, 100), (modest, 50)):
        [stored] = rows.query(
            "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s", workspace_id
        )
        assert stored["n"] == count


def rows_of(workspace_id: uuid.UUID, count: int) -> list[InboundRow]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        InboundRow(
            workspace_id=workspace_id,
            source_id=uuid.uuid4(),
            message_id=f"m-{uuid.uuid4()}",
            type="track",
            received_at=now,
            timestamp=now,
            message={"type": "track", "event": "Queued", "userId": "u"},
            warnings=None,
        )
        for _ in range(count)
    ]
