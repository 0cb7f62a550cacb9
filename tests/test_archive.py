"""The archive: days of the log past the hot window are written to object storage, verified,
and only then dropped; a store that fails keeps them; replay reads them back.

Runs on databases of its own (the `scratch_engine` fixture): it moves its clock across months
and drops whole days of every workspace.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.app import create_app
from pulsegate.projection.replay import replay_workspace
from pulsegate.sessions import sweep as sessions
from pulsegate.sessions.sessionize import SessionRules
from pulsegate.settings import Settings
from pulsegate.storage import archive
from pulsegate.storage.stores import LocalStore, S3Store, open_store
from tests.support.database import Rows
from tests.support.history import (
    add_source,
    archived_lines,
    at,
    days,
    log_days,
    morning,
    prepared,
    project,
    store,
)
from tests.support.servers import free_port
from tests.support.tenants import ADMIN_TOKEN, SECRET_KEY, create_tenant
from tests.support.waiting import eventually_sync

START = date(2026, 1, 1)
HOT = 30


def settings_for(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET_KEY,
        admin_token=ADMIN_TOKEN,
        scheduler_enabled=False,
        projector_enabled=False,
        log_retention_days=HOT,
        **overrides,
    )


def track(n: int, user: str) -> dict[str, Any]:
    return {"type": "track", "messageId": f"m-{n}", "userId": user, "event": "Report Built"}


def midnight_ms(day: date) -> int:
    return int(at(day, 0).timestamp()) * 1000


async def test_days_past_the_hot_window_are_archived_verified_then_dropped_over_months(
    scratch_engine: AsyncEngine, scratch_database: str, tmp_path: Path
) -> None:
    rows = Rows(scratch_database)
    settings = settings_for(scratch_database, tmp_path)
    local = LocalStore(tmp_path / "archive")
    one, other = await create_tenant(scratch_database), await create_tenant(scratch_database)
    app_source = add_source(rows, one.workspace_id, "app")
    senders = [
        (one.workspace_id, one.source_id),
        (one.workspace_id, app_source),
        (other.workspace_id, other.source_id),
    ]
    sent: dict[tuple[uuid.UUID, str], tuple[uuid.UUID, date]] = {}
    number = 0
    last = date(2026, 4, 30)
    for day in days(START, last):
        await morning(scratch_engine, settings, local, day)
        batch = []
        for k, (workspace_id, source_id) in enumerate(senders):
            if (day.toordinal() + k) % 4 == 0:
                continue  # not every source sends every day
            batch.append(prepared(workspace_id, source_id, at(day), track(number, f"u-{k}")))
            sent[(workspace_id, f"m-{number}")] = (source_id, day)
            number += 1
        await store(scratch_engine, batch)
        await project(scratch_engine)

    cutoff = last - timedelta(days=HOT)
    assert log_days(rows)[0] == cutoff  # days before the hot window are gone from the database
    hot = Counter(
        (r["workspace_id"], r["message_id"])
        for r in rows.query("SELECT workspace_id, message_id FROM inbound_messages")
    )
    objects = archived_lines(tmp_path / "archive")
    cold: Counter[tuple[uuid.UUID, str]] = Counter()
    log_ids = {}
    for key, lines in objects.items():
        _, source, day_ms, name = key.split("/")
        workspace_id = uuid.UUID(name.removesuffix(".gz"))
        for line in lines:
            cold[(workspace_id, line["messageId"])] += 1
            expected_source, received = sent[(workspace_id, line["messageId"])]
            assert (source, int(day_ms)) == (str(expected_source), midnight_ms(received))
            assert line["receivedAt"].startswith(received.isoformat())
            log_ids[line["messageId"]] = line["_pulsegate"]["id"]
        assert [line["_pulsegate"]["id"] for line in lines] == sorted(
            line["_pulsegate"]["id"] for line in lines
        )  # in log order
    # Every message is in exactly one place: the hot log for the last 30 days, else the archive.
    assert hot == Counter(m for m, (_, day) in sent.items() if day >= cutoff)
    assert cold == Counter(m for m, (_, day) in sent.items() if day < cutoff)
    assert len(set(log_ids.values())) == len(log_ids)

    manifest = rows.query("SELECT * FROM archived_objects ORDER BY day, key")
    assert {m["key"] for m in manifest} == set(objects)
    for entry in manifest:
        data = (tmp_path / "archive" / entry["key"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert (entry["bytes"], entry["messages"]) == (len(data), len(objects[entry["key"]]))
    dropped = rows.query("SELECT * FROM archive_days ORDER BY day")
    assert [d["day"] for d in dropped] == list(days(START, cutoff - timedelta(days=1)))
    assert all(d["dropped_at"] is not None and d["last_error"] is None for d in dropped)


@pytest.fixture
def s3_server() -> Iterator[tuple[ThreadedMotoServer, int]]:
    """moto's S3-compatible HTTP server, in this process, on a port of its own."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield server, port
    server.stop()


def s3_store(port: int, bucket: str) -> S3Store:
    made = open_store(
        f"s3://{bucket}/pulsegate",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    assert isinstance(made, S3Store)
    return made


async def test_a_failing_store_keeps_the_days_until_it_works_again(
    scratch_engine: AsyncEngine,
    scratch_database: str,
    tmp_path: Path,
    s3_server: tuple[ThreadedMotoServer, int],
) -> None:
    server, port = s3_server
    rows = Rows(scratch_database)
    settings = settings_for(scratch_database, tmp_path)
    tenant = await create_tenant(scratch_database)
    first_days = list(days(START, START + timedelta(days=2)))
    for number, day in enumerate(first_days):
        bucket_store = s3_store(port, "archive")
        await morning(scratch_engine, settings, bucket_store, day)
        await store(
            scratch_engine,
            [prepared(tenant.workspace_id, tenant.source_id, at(day), track(number, "u"))],
        )
    await project(scratch_engine)
    later = START + timedelta(days=HOT + 3)  # the three days are past the hot window
    app = create_app(settings_for(scratch_database, tmp_path))

    async def health() -> dict[str, Any]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.get(
                    "/admin/health", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                )
                return dict(response.json())

    # The bucket does not exist (a store set up wrong): nothing is dropped.
    with pytest.raises(archive.ArchiveError, match="could not be archived"):
        await morning(scratch_engine, settings, s3_store(port, "no-such-bucket"), later)
    assert log_days(rows)[:3] == first_days
    assert len(rows.inbound(tenant.workspace_id)) == 3
    shown = (await health())["storage"]["archive"]
    assert "NoSuchBucket" in shown["last_error"]
    assert shown["oldest_hot_day"] == START.isoformat()
    # Counted against the wall clock, which this test's days are long behind.
    today = datetime.now(UTC).date()
    assert shown["days_waiting"] == sum(d < today - timedelta(days=HOT) for d in log_days(rows))

    # The server is down: nothing is dropped either.
    boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket="archive")
    server.stop()
    with pytest.raises(archive.ArchiveError):
        await morning(scratch_engine, settings, s3_store(port, "archive"), later)
    assert log_days(rows)[:3] == first_days
    assert len(rows.inbound(tenant.workspace_id)) == 3
    assert (await health())["status"] == "attention"

    # Back (an empty server again, its bucket made): the next run archives and drops them.
    server.start()
    bucket = s3_store(port, "archive")
    bucket.client.create_bucket(Bucket="archive")
    done = await morning(scratch_engine, settings, bucket, later)
    assert done["archive"] == {
        "objects_written": 3,
        "messages_archived": 3,
        "days_dropped": 3,
        "workspaces_trimmed": 0,
        "days_failed": 0,
    }
    assert log_days(rows)[0] == later - timedelta(days=HOT)
    assert rows.inbound(tenant.workspace_id) == []
    listed = bucket.client.list_objects_v2(Bucket="archive", Prefix="pulsegate/")["Contents"]
    assert sorted(o["Key"] for o in listed) == [
        f"pulsegate/segment-logs/{tenant.source_id}/{midnight_ms(day)}/{tenant.workspace_id}.gz"
        for day in first_days
    ]
    for number, day in enumerate(first_days):
        key = archive.object_key(tenant.workspace_id, tenant.source_id, day)
        [line] = list(archive.iter_lines(bucket, key))
        assert b'"messageId": "m-%d"' % number in line
    shown = (await health())["storage"]["archive"]
    assert (shown["last_error"], shown["oldest_hot_day"]) == (None, log_days(rows)[0].isoformat())


@pytest.fixture
def authenticating_s3() -> Iterator[tuple[str, dict[str, str]]]:
    """moto's S3 server in a process of its own that checks signatures (IAM on: its first
    three requests are free, used here to make a user allowed to write S3 and its key)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        eventually_sync(lambda: _answers(endpoint), timeout=30, what="moto's server to answer")
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        iam.create_user(UserName="archive")
        iam.put_user_policy(
            UserName="archive",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="archive")["AccessKey"]
        yield endpoint, {"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        server.terminate()
        server.wait(10)


def _answers(endpoint: str) -> bool:
    try:
        return httpx.get(f"{endpoint}/moto-api/").status_code == 200
    except httpx.TransportError:
        return False


async def test_wrong_credentials_keep_the_days_until_they_are_right(
    scratch_engine: AsyncEngine,
    scratch_database: str,
    tmp_path: Path,
    authenticating_s3: tuple[str, dict[str, str]],
) -> None:
    endpoint, key = authenticating_s3
    rows = Rows(scratch_database)
    settings = settings_for(scratch_database, tmp_path)
    tenant = await create_tenant(scratch_database)

    def store_with(secret: str) -> S3Store:
        made = open_store(
            "s3://archive",
            endpoint_url=endpoint,
            region="us-east-1",
            access_key_id=key["id"],
            secret_access_key=secret,
        )
        assert isinstance(made, S3Store)
        return made

    right = store_with(key["secret"])
    right.client.create_bucket(Bucket="archive")
    await morning(scratch_engine, settings, right, START)
    await store(
        scratch_engine,
        [prepared(tenant.workspace_id, tenant.source_id, at(START), track(0, "u"))],
    )
    await project(scratch_engine)
    later = START + timedelta(days=HOT + 1)

    with pytest.raises(archive.ArchiveError):
        await morning(scratch_engine, settings, store_with("not-the-secret"), later)
    assert log_days(rows)[0] == START
    assert len(rows.inbound(tenant.workspace_id)) == 1
    [day] = rows.query("SELECT last_error FROM archive_days WHERE day = %s", START)
    assert "SignatureDoesNotMatch" in day["last_error"]
    assert right.client.list_objects_v2(Bucket="archive").get("Contents") is None

    done = await morning(scratch_engine, settings, right, later)
    assert done["archive"]["days_dropped"] >= 1
    assert log_days(rows)[0] > START
    [line] = list(
        archive.iter_lines(right, archive.object_key(tenant.workspace_id, tenant.source_id, START))
    )
    assert json.loads(line)["messageId"] == "m-0"


async def snapshot(rows: Rows, workspace_id: uuid.UUID) -> dict[str, Any]:
    """What projection made of the workspace's messages, without ids that differ per run."""
    w = workspace_id
    return {
        "events": rows.query(
            "SELECT message_id, type, name, timestamp, user_id, anonymous_id, account_id, "
            "resolved_user_id, resolved_account_id, properties FROM events "
            "WHERE workspace_id = %s ORDER BY message_id",
            w,
        ),
        "accounts": rows.query(
            "SELECT account_id, fields FROM accounts WHERE workspace_id = %s ORDER BY 1", w
        ),
        "users": rows.query(
            "SELECT user_id, fields FROM users WHERE workspace_id = %s ORDER BY 1", w
        ),
        "identities": rows.query(
            "SELECT alias, user_id FROM identities WHERE workspace_id = %s ORDER BY 1", w
        ),
        "sessions": rows.query(
            "SELECT session_key, started_at, ended_at, duration_ms, resolved_user_id, "
            "resolved_account_id FROM sessions WHERE workspace_id = %s ORDER BY 1, 2",
            w,
        ),
    }


def journey(day_number: int, user: int) -> list[dict[str, Any]]:
    """A user's day: anonymous browsing first; identified (and tied to an account) on the
    user's tenth day, so that ties made in the hot log reach events in the archive."""
    n = f"{day_number}-{user}"
    anonymous = f"anon-{user}"
    when = at(START + timedelta(days=day_number), 9 + user).isoformat()
    messages: list[dict[str, Any]] = [
        {
            "type": "page",
            "messageId": f"p-{n}",
            "anonymousId": anonymous,
            "name": "Dashboard",
            "timestamp": when,
        },
        {
            "type": "track",
            "messageId": f"t-{n}",
            "anonymousId": anonymous,
            **({"userId": f"user-{user}"} if day_number >= 10 * (user + 1) else {}),
            "event": "Report Built",
            "properties": {"module": "Reports", "n": day_number},
            "timestamp": when,
        },
    ]
    if day_number == 10 * (user + 1):
        messages += [
            {
                "type": "identify",
                "messageId": f"i-{n}",
                "userId": f"user-{user}",
                "anonymousId": anonymous,
                "traits": {"email": f"user-{user}@example.com", "plan": "pro"},
                "timestamp": when,
            },
            {
                "type": "group",
                "messageId": f"g-{n}",
                "userId": f"user-{user}",
                "groupId": f"acct-{user % 2}",
                "traits": {"name": f"Account {user % 2}", "createdAt": "2024-01-01"},
                "timestamp": when,
            },
        ]
    return messages


async def test_replay_from_the_archive_and_the_hot_log_rebuilds_the_same_projections(
    scratch_engine: AsyncEngine, scratch_database: str, tmp_path: Path
) -> None:
    rows = Rows(scratch_database)
    settings = settings_for(scratch_database, tmp_path)
    local = LocalStore(tmp_path / "archive")
    tenant = await create_tenant(scratch_database)
    last = START + timedelta(days=59)
    for number, day in enumerate(days(START, last)):
        await morning(scratch_engine, settings, local, day)
        messages = [m for user in range(3) for m in journey(number, user)]
        await store(
            scratch_engine,
            [prepared(tenant.workspace_id, tenant.source_id, at(day, 20), m) for m in messages],
        )
        await project(scratch_engine)
    await sessions.sweep(scratch_engine, rules=SessionRules())
    original = await snapshot(rows, tenant.workspace_id)
    assert len(original["events"]) == 60 * 3 * 2
    assert log_days(rows)[0] == last - timedelta(days=HOT)  # half of it is in the archive
    archived = rows.query("SELECT sum(messages) AS n FROM archived_objects")[0]["n"]
    assert archived > 0

    # The hot log alone gives back the last thirty days only.
    await replay_workspace(scratch_engine, tenant.workspace_id)
    await sessions.sweep(scratch_engine, rules=SessionRules())
    assert len((await snapshot(rows, tenant.workspace_id))["events"]) < len(original["events"])

    applied = await replay_workspace(scratch_engine, tenant.workspace_id, store=local)
    await sessions.sweep(scratch_engine, rules=SessionRules())
    assert (
        applied
        == rows.query(
            "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %s",
            tenant.workspace_id,
        )[0]["n"]
        + archived
    )
    assert await snapshot(rows, tenant.workspace_id) == original
    assert rows.query("SELECT count(*) AS n FROM restored_messages")[0]["n"] == 0

    # A time range across the archive and the log applies its messages again, changing nothing.
    again = await replay_workspace(
        scratch_engine,
        tenant.workspace_id,
        store=local,
        since=at(START + timedelta(days=20), 0),
        until=at(START + timedelta(days=40), 0),
    )
    assert again == sum(len(journey(n, u)) for n in range(20, 40) for u in range(3))
    assert await snapshot(rows, tenant.workspace_id) == original


async def test_a_workspace_plan_keeps_its_hot_log_longer_or_shorter(
    scratch_engine: AsyncEngine, scratch_database: str, tmp_path: Path
) -> None:
    rows = Rows(scratch_database)
    settings = settings_for(scratch_database, tmp_path)
    local = LocalStore(tmp_path / "archive")
    standard, longer, shorter = [await create_tenant(scratch_database) for _ in range(3)]
    rows.query(
        "UPDATE workspaces SET log_retention_days = 45 WHERE id = %s RETURNING id",
        longer.workspace_id,
    )
    rows.query(
        "UPDATE workspaces SET log_retention_days = 10 WHERE id = %s RETURNING id",
        shorter.workspace_id,
    )
    last = START + timedelta(days=69)
    sent: dict[uuid.UUID, dict[str, date]] = {
        t.workspace_id: {} for t in (standard, longer, shorter)
    }
    for number, day in enumerate(days(START, last)):
        await morning(scratch_engine, settings, local, day)
        batch = []
        for tenant in (standard, longer, shorter):
            message_id = f"m-{number}"
            batch.append(
                prepared(tenant.workspace_id, tenant.source_id, at(day), track(number, "u"))
            )
            sent[tenant.workspace_id][message_id] = day
        await store(scratch_engine, batch)
        await project(scratch_engine)

    cold: dict[uuid.UUID, Counter[str]] = {w: Counter() for w in sent}
    for key, lines in archived_lines(tmp_path / "archive").items():
        workspace_id = uuid.UUID(key.rsplit("/", 1)[1].removesuffix(".gz"))
        cold[workspace_id].update(line["messageId"] for line in lines)
    for tenant, kept_days in ((standard, HOT), (longer, 45), (shorter, 10)):
        first_hot = last - timedelta(days=kept_days)
        mine = sent[tenant.workspace_id]
        hot = Counter(r["message_id"] for r in rows.inbound(tenant.workspace_id))
        assert hot == Counter(m for m, day in mine.items() if day >= first_hot), kept_days
        # Archived once each: the days past the plan's window, and (longer plan) the days
        # past the partitions' window, which it keeps in the database as well.
        archived_before = max(first_hot, last - timedelta(days=HOT))
        assert cold[tenant.workspace_id] == Counter(
            m for m, day in mine.items() if day < archived_before
        ), kept_days
    # The longer plan's rows of dropped days wait in the log's default partition.
    waiting = rows.query("SELECT DISTINCT workspace_id FROM inbound_messages_default")
    assert [w["workspace_id"] for w in waiting] == [longer.workspace_id]


def test_an_object_that_does_not_read_back_as_written_is_not_verified(tmp_path: Path) -> None:
    """Plain gzip of JSON lines (any reader opens it); a copy that lost a line or a byte fails
    verification, so its day would stay in the database."""
    local = LocalStore(tmp_path)
    key = "segment-logs/s/0/w.gz"
    for name, body in (("whole", b'{"a": 1}\n{"b": 2}\n'), ("short", b'{"a": 1}\n')):
        with gzip.open(tmp_path / name, "wb") as out:
            out.write(body)
    whole = hashlib.sha256((tmp_path / "whole").read_bytes()).hexdigest()
    local.put(key, tmp_path / "whole")
    with gzip.open(tmp_path / key) as read:
        assert [json.loads(line) for line in read] == [{"a": 1}, {"b": 2}]
    archive.verify(local, key, messages=2, sha256=whole)

    local.put(key, tmp_path / "short")
    with pytest.raises(archive.ArchiveError, match="1 lines of 2"):
        archive.verify(local, key, messages=2, sha256=whole)
