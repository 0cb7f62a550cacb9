"""Sessionizing throughput: the session sweep over a month of events.

    python bench/sessions.py [--users 10000] [--days 30]

Uses PULSEGATE_DATABASE_URL, or an embedded PostgreSQL in a temporary directory. It writes
events straight into `events`: each user is active on one day in three, with ten track calls
about 90 seconds apart (and for one user in four, a 40-minute pause after the fifth, which
splits that visit in two). 10,000 users over 30 days make 1,000,000 events. Every user's key is
queued as the projector would queue it, then the sweep runs until the queue is empty. Issue 4's
target: 1,000,000 events in at most 30 seconds on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import psycopg

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.sessions import service
from pulsegate.settings import Settings

FILL = """
INSERT INTO events (workspace_id, message_id, type, timestamp, user_id, anonymous_id, name,
                    module, properties)
SELECT %(w)s, format('e-%%s-%%s-%%s', u, d, k), 'track',
       %(start)s::timestamptz + make_interval(days => d, secs => (u %% 28800) + k * (60 + u %% 60))
           + CASE WHEN u %% 4 = 0 AND k >= 5 THEN interval '40 minutes' ELSE interval '0' END,
       'user-' || u, 'anon-' || u, 'Feature ' || (k %% 7), 'Module ' || ((u + k) %% 5), '{}'
FROM generate_series(0, %(users)s - 1) AS u, generate_series(0, %(days)s - 1) AS d,
     generate_series(0, 9) AS k
WHERE (u + d) %% 3 = 0
"""

QUEUE = """
INSERT INTO session_dirty (workspace_id, session_key, since)
SELECT workspace_id, session_key, min(timestamp) FROM events WHERE workspace_id = %(w)s
GROUP BY workspace_id, session_key
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()

    url = migrated_database_url()
    workspace = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, str(workspace))
        )
        started = time.perf_counter()
        params = {"w": workspace, "users": args.users, "days": args.days, "start": "2026-10-01"}
        events = conn.execute(FILL, params).rowcount
        conn.execute(QUEUE, {"w": workspace})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE events")
        print(f"stored {events:,} events in {time.perf_counter() - started:.1f} s")

    settings = Settings(database_url=url)
    engine = create_engine(settings.async_database_url)
    started = time.perf_counter()
    result = await service.sweep(engine, rules=settings.session_rules)
    elapsed = time.perf_counter() - started
    await engine.dispose()
    print(
        f"sessionized {events:,} events of {result.keys:,} keys into {result.sessions:,} "
        f"sessions in {elapsed:.1f} s: {events / elapsed:,.0f} events/s "
        f"(target: 1,000,000 in <= 30 s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
