"""A database whose hot log is full: for ingest measured on it against an empty one.

    PULSEGATE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pulsegate_bench_full \\
        python bench/full_log.py --messages 20000000 [--days 25] [--workspaces 4]

Migrates the database, then writes `--messages` track calls into the log, spread evenly over
the `--days` days before today (all inside the 30-day hot window) and `--workspaces`
workspaces, with the last week's ids in the dedup window, as a gateway that has run for a
month at that volume holds them (bench/synthetic.py). The projector's positions are moved past
them, so a server started on it projects only what is sent next. Then:

    PULSEGATE_DATABASE_URL=...pulsegate_bench_full python bench/run.py

and the same with an empty database, alternated, compares ingest on the two.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from database import migrated_database_url
from pulsegate.settings import Settings
from synthetic import fill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000_000)
    parser.add_argument("--days", type=int, default=25)
    parser.add_argument("--workspaces", type=int, default=4)
    args = parser.parse_args()
    url = migrated_database_url()
    window = Settings().dedup_window_days
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in range(args.days, 0, -1)]
    per_day = args.messages // (args.days * args.workspaces)
    started = time.perf_counter()
    for _ in range(args.workspaces):
        workspace_id, source_id = uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO workspaces (id, name) VALUES (%s, %s)",
                (workspace_id, f"full-{workspace_id}"),
            )
            conn.execute(
                "INSERT INTO sources (id, workspace_id, name, write_key_hash) "
                "VALUES (%s, %s, 'full', %s)",
                (source_id, workspace_id, uuid.uuid4().hex),
            )
        old = [day for day in days if day < today - timedelta(days=window)]
        recent = [day for day in days if day not in old]
        asyncio.run(fill(url, workspace_id, source_id, old, per_day))
        asyncio.run(fill(url, workspace_id, source_id, recent, per_day, dedup=True))
        print(f"workspace {workspace_id}: {per_day * len(days):,} messages")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) inbound_messages")
        conn.execute("VACUUM (ANALYZE) message_ids")
        [[messages]] = conn.execute("SELECT count(*) FROM inbound_messages").fetchall()
    print(f"{messages:,} messages in the hot log, in {time.perf_counter() - started:,.0f} s")


if __name__ == "__main__":
    main()
