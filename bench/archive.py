"""Archive and replay throughput: log days archived (written, uploaded, verified, dropped) to a
local directory and to an S3-compatible server, and a workspace rebuilt from its archive.

    python bench/archive.py [--messages 500000] [--days 5]
    PULSEGATE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pulsegate_bench_archive \\
        python bench/archive.py

Fills `--days` days of the log, far past the hot window, with analytics.js-shaped track calls
written straight into the log (the projector's position set past them), then times:

1. the archive of those days to a local directory (`archive.run`, what the daily job does);
2. `replay_workspace` from that archive (every archived message restored and applied), beside
   the same replay from the hot log before the archive;
3. the archive of as many days again to moto's S3 server (in this process, over HTTP).

Prints messages per second and the archive's bytes per message. moto is a test dependency
(`pip install -e '.[dev]'`); its server is slower than a real object store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.projection.replay import replay_workspace
from pulsegate.settings import Settings
from pulsegate.storage import archive, partitions
from pulsegate.storage.stores import ArchiveStore, LocalStore, open_store

HOT_DAYS = 30

_FILL = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
SELECT %(w)s, %(s)s, m.id, 'track', m.at, m.at, jsonb_build_object(
    'type', 'track', 'messageId', m.id, 'userId', 'user-' || (n %% 40000),
    'anonymousId', md5('anon' || (n %% 40000)), 'event', 'Report Built',
    'properties', jsonb_build_object('module', 'Reports', 'feature', 'Export ' || (n %% 12)),
    'context', jsonb_build_object(
        'library', jsonb_build_object('name', 'analytics.js', 'version', 'npm:next-1.70.0'),
        'page', jsonb_build_object('path', '/reports/' || (n %% 50), 'title', 'Reports',
                                   'url', 'https://app.example.com/reports/' || (n %% 50)),
        'userAgent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari',
        'locale', 'en-US', 'ip', '203.0.113.' || (n %% 250)),
    'timestamp', to_char(m.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'receivedAt', to_char(m.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
FROM generate_series(1, %(n)s) AS n
CROSS JOIN LATERAL (
    SELECT 'bench-' || %(day)s || '-' || n AS id,
           %(start)s::timestamptz + (n * interval '86399 seconds' / %(n)s) AS at
) AS m
"""


async def fill(
    url: str, workspace_id: uuid.UUID, source_id: uuid.UUID, days: list[date], n: int
) -> None:
    engine = create_engine(Settings(database_url=url).async_database_url)
    async with engine.begin() as connection:
        for day in days:
            await partitions.create_partition(connection, partitions.INBOUND_MESSAGES, day)
    for day in days:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                _FILL,
                {
                    "w": workspace_id,
                    "s": source_id,
                    "n": n,
                    "day": day.isoformat(),
                    "start": datetime.combine(day, datetime.min.time(), tzinfo=UTC),
                },
            )
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO projector_positions (workspace_id, last_id, updated_at) "
            "SELECT %(w)s, max(id), now() FROM inbound_messages WHERE workspace_id = %(w)s "
            "ON CONFLICT (workspace_id) DO UPDATE SET last_id = EXCLUDED.last_id",
            {"w": workspace_id},
        )
    await engine.dispose()


async def archive_all(url: str, store: ArchiveStore) -> tuple[float, archive.ArchiveResult]:
    engine = create_engine(Settings(database_url=url).async_database_url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    result = await archive.run(
        engine, store, today=now.date(), hot_days=HOT_DAYS, overrides={}, now=now
    )
    seconds = time.perf_counter() - started
    await engine.dispose()
    assert result.days_failed == 0, result
    return seconds, result


async def replay(
    url: str, workspace_id: uuid.UUID, store: ArchiveStore | None
) -> tuple[float, int]:
    engine = create_engine(Settings(database_url=url).async_database_url)
    started = time.perf_counter()
    applied = await replay_workspace(engine, workspace_id, store=store)
    seconds = time.perf_counter() - started
    await engine.dispose()
    return seconds, applied


def report(what: str, messages: int, seconds: float) -> None:
    print(f"{what:<42} {messages:>10,} messages {seconds:>8.1f} s {messages / seconds:>10,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=500_000, help="per run, all days")
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server, a line a request
    url = migrated_database_url()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        workspace_id, source_id = uuid.uuid4(), uuid.uuid4()
        conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s)",
            (workspace_id, f"bench-{workspace_id}"),
        )
        conn.execute(
            "INSERT INTO sources (id, workspace_id, name, write_key_hash) VALUES (%s, %s, 'b', %s)",
            (source_id, workspace_id, uuid.uuid4().hex),
        )
    per_day = args.messages // args.days
    today = datetime.now(UTC).date()
    local_days = [today - timedelta(days=HOT_DAYS + 30 + n) for n in range(args.days)]
    s3_days = [today - timedelta(days=HOT_DAYS + 10 + n) for n in range(args.days)]
    root = Path(tempfile.mkdtemp(prefix="pulsegate-bench-archive-"))
    try:
        local = LocalStore(root)
        asyncio.run(fill(url, workspace_id, source_id, local_days, per_day))
        seconds, applied = asyncio.run(replay(url, workspace_id, None))
        report("replay from the hot log (both passes)", applied, seconds)
        seconds, done = asyncio.run(archive_all(url, local))
        report("archive to a local directory", done.messages_archived, seconds)
        size = sum(p.stat().st_size for p in root.rglob("*.gz"))
        print(f"archive size: {size / done.messages_archived:,.0f} bytes per message (gzip)")
        seconds, applied = asyncio.run(replay(url, workspace_id, local))
        report("replay from the local archive (both passes)", applied, seconds)

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="archive")
        s3 = open_store(
            "s3://archive/pulsegate",
            endpoint_url=endpoint,
            region="us-east-1",
            access_key_id="bench",
            secret_access_key="bench",
        )
        asyncio.run(fill(url, workspace_id, source_id, s3_days, per_day))
        seconds, done = asyncio.run(archive_all(url, s3))
        report("archive to moto's S3 server", done.messages_archived, seconds)
        server.stop()
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
