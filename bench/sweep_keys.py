"""What the session sweep costs a key, statement by statement: new keys and keys going on.

    PULSEGATE_DATABASE_URL=postgresql://... python bench/sweep_keys.py [--keys 20000]

In `bench/run.py` nearly every single event is a key of its own to sweep (bench/load.lua's
100,000 users send one or two events a run), so a single event's share of the sweep is the
sweep's fixed cost a key. This measures it apart, on a fresh database of a server that preloads
`pg_stat_statements` (as `bench/statements.py`): `--keys` keys, each an anonymousId tied to no
one with a userId (as analytics.js sends them), one event each, swept once to warm the tables
(not measured); then as many new keys with one event each, swept (`new`); then one more event
each of those, a minute later, swept (`going on`: each key goes on from its stored session).
For each measured sweep it prints the wall time and the sweep's Python CPU a key, and each
statement's execution time a key (`pg_stat_statements`, reset before it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid

import psycopg

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.serving import settle_garbage_collector
from pulsegate.sessions import sweep as session_sweep
from pulsegate.settings import Settings
from statements import TOP

# One event of each key `<prefix>-a-<n>` (its anonymousId; userId `<prefix>-u-<n>`) at minute
# `minute` of the day.
EVENTS = """
INSERT INTO events (workspace_id, message_id, type, timestamp, user_id, anonymous_id, name,
                    module, properties)
SELECT %(w)s, format('%%s-%%s-%%s', %(prefix)s::text, n, %(minute)s::int), 'track',
       '2026-10-01'::timestamptz + make_interval(mins => %(minute)s::int),
       %(prefix)s::text || '-u-' || n, %(prefix)s::text || '-a-' || n,
       'Feature ' || (n %% 7), 'Module ' || (n %% 5), '{}'
FROM generate_series(0, %(keys)s::int - 1) AS n
"""

# Queued as the projector queues them: each key with its new event's time.
QUEUE = """
INSERT INTO session_dirty (workspace_id, session_key, since)
SELECT workspace_id, session_key, timestamp FROM events
WHERE workspace_id = %(w)s AND message_id LIKE %(prefix)s::text || '-%%-' || %(minute)s::int
"""

PHASES = (("warm-up", "w", 0), ("new", "k", 0), ("going on", "k", 1))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=6)
    args = parser.parse_args()
    if not os.environ.get("PULSEGATE_DATABASE_URL"):
        sys.exit("set PULSEGATE_DATABASE_URL to a server that preloads pg_stat_statements")
    url = migrated_database_url()
    settle_garbage_collector()  # as the worker process that runs the sweep does
    settings = Settings(database_url=url)
    workspace = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, "sweep"))
    engine = create_engine(settings.async_database_url)
    try:
        for name, prefix, minute in PHASES:
            params = {"w": workspace, "keys": args.keys, "prefix": prefix, "minute": minute}
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(EVENTS, params)
                conn.execute(QUEUE, params)
                for table in ("events", "sessions", "session_dirty"):
                    conn.execute(f"VACUUM ANALYZE {table}")
                conn.execute("SELECT pg_stat_statements_reset()")
            started, cpu = time.perf_counter(), time.process_time()
            result = await session_sweep.sweep(engine, rules=settings.session_rules)
            wall, python = time.perf_counter() - started, time.process_time() - cpu
            if name == "warm-up":
                continue
            print(
                f"\n{name}: {result.keys:,} keys ({result.continued:,} went on from their "
                f"session), {wall * 1e6 / args.keys:.1f} us a key, "
                f"of it Python {python * 1e6 / args.keys:.1f} us"
            )
            with psycopg.connect(url) as conn:
                rows = conn.execute(TOP, (args.top,)).fetchall()
            for total_ms, calls, count_rows, query in rows:
                print(f"{total_ms * 1000 / args.keys:>8.1f}{calls:>6}{count_rows:>8}  {query[:90]}")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
