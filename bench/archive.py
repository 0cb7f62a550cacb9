"""Archive and replay throughput: log days archived (written, uploaded, verified, dropped) to a
local directory and to an S3-compatible server, and a workspace rebuilt from its archive.

    python bench/archive.py [--messages 500000] [--days 5]
    PULSEGATE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pulsegate_bench_archive \\
        python bench/archive.py

Fills `--days` days of the log, far past the hot window, with analytics.js-shaped track calls
written straight into the log (the projector's position set past them), then times:

1. the archive of those days to a local directory (`archive.run`, what the daily job does);
2. `replay_workspace` from that archive (every archived message restored and applied), beside
   the same replay from the hot log before the archive (each clearing the projections the
   one before it built);
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.projection.replay import replay_workspace
from pulsegate.settings import Settings
from pulsegate.storage import archive
from pulsegate.storage.stores import ArchiveStore, LocalStore, open_store
from synthetic import fill

HOT_DAYS = 30


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
        # Once to build the projections, then timed: a replay clears what is there first,
        # as the one from the archive below does.
        asyncio.run(replay(url, workspace_id, None))
        seconds, applied = asyncio.run(replay(url, workspace_id, None))
        report("replay from the hot log", applied, seconds)
        seconds, done = asyncio.run(archive_all(url, local))
        report("archive to a local directory", done.messages_archived, seconds)
        size = sum(p.stat().st_size for p in root.rglob("*.gz"))
        print(f"archive size: {size / done.messages_archived:,.0f} bytes per message (gzip)")
        seconds, applied = asyncio.run(replay(url, workspace_id, local))
        report("replay from the local archive", applied, seconds)

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
