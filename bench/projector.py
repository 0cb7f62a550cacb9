"""Projector throughput: how fast stored messages become events, accounts and users.

    python bench/projector.py [--messages 200000] [--workspaces 1] [--workers 1]

Uses PULSEGATE_DATABASE_URL, or an embedded PostgreSQL in a temporary directory. It writes a
realistic mix straight into `inbound_messages` in one transaction: 70% track (with module),
10% page, 10% identify, 10% group; 10,000 users in 1,000 accounts; a quarter of the events
anonymous, their ids tied to users by the identifies. Then it runs the projector until it has
caught up, and prints messages per second. With `--workspaces N` the messages are spread over N
workspaces, and `--workers K` runs K projector processes that share them, as `pulsegate worker`
replicas do.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import psycopg

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.projection import service
from pulsegate.projection.watermark import Watermark
from pulsegate.settings import Settings

# Each message is assigned a user by a hash of its number, so every kind of call reaches every
# user (a plain `n % 10000` would tie each call type to one last digit of the user id). A user
# belongs to one account (`user % 1000`), as in a real product. Times increase with log order.
FILL = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
SELECT %(w)s, %(s)s, 'bench-' || n, kind, now(), ts,
       jsonb_build_object('messageId', 'bench-' || n, 'type', kind,
                          'context', jsonb_build_object(
                              'library', jsonb_build_object('name', 'analytics-python',
                                                            'version', '2.3.2'),
                              'ip', '10.1.' || (u %% 250) || '.7'))
       || CASE kind
         WHEN 'track' THEN jsonb_build_object(
             'event', 'Feature ' || (n %% 40),
             'properties', jsonb_build_object('module', 'Module ' || (n %% 8), 'n', n))
             || CASE WHEN n %% 4 = 0 THEN jsonb_build_object('anonymousId', 'anon-' || u)
                     ELSE jsonb_build_object('userId', 'user-' || u) END
         WHEN 'page' THEN jsonb_build_object(
             'name', 'Page ' || (n %% 20), 'userId', 'user-' || u,
             'properties', jsonb_build_object('path', '/p/' || (n %% 50)))
         WHEN 'identify' THEN jsonb_build_object(
             'userId', 'user-' || u, 'anonymousId', 'anon-' || u,
             'traits', jsonb_build_object('first_name', 'First ' || u, 'lastName', 'Last ' || n,
                                          'email', u || '@x.io', 'title', 'Engineer',
                                          'plan_seats', n %% 50))
         ELSE jsonb_build_object(
             'userId', 'user-' || u, 'groupId', 'acct-' || (u %% 1000),
             'traits', jsonb_build_object('name', 'Account ' || (u %% 1000),
                                          'createdAt', '2024-01-01', 'industry', 'Tools',
                                          'employees', n %% 500, 'plan', 'Pro'))
       END
FROM (SELECT n, abs(hashtext(n::text)) %% 10000 AS u,
             CASE WHEN n %% 10 < 7 THEN 'track' WHEN n %% 10 = 7 THEN 'page'
                  WHEN n %% 10 = 8 THEN 'identify' ELSE 'group' END AS kind,
             now() - make_interval(secs => %(count)s - n) AS ts
      FROM generate_series(1, %(count)s) AS n) AS g
"""


def project_until_done(url: str) -> int:
    """One projector worker (a process of its own): rounds until nothing is pending."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    async def run() -> int:
        engine = create_engine(Settings(database_url=url).async_database_url)
        watermark, applied, idle = Watermark(), 0, 0
        try:
            while idle < 3:  # three empty rounds: the others have taken what was left
                batch = await service.project_pending(engine, watermark)
                applied, idle = applied + batch, 0 if batch else idle + 1
        finally:
            await engine.dispose()
        return applied

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    url = migrated_database_url()
    workspaces = [uuid.uuid4() for _ in range(args.workspaces)]
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        for workspace in workspaces:
            conn.execute(
                "INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, str(workspace))
            )
            conn.execute(
                FILL,
                {"w": workspace, "s": uuid.uuid4(), "count": args.messages // args.workspaces},
            )
        conn.commit()
        print(
            f"stored {args.messages:,} messages in {args.workspaces} workspace(s) in "
            f"{time.perf_counter() - started:.1f} s"
        )

    started = time.perf_counter()
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        applied = sum(pool.map(project_until_done, [url] * args.workers))
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("events", "accounts", "users", "identities")
        }
    print(
        f"projected {applied:,} messages in {elapsed:.1f} s with {args.workers} worker(s): "
        f"{applied / elapsed:,.0f} messages/s"
    )
    print("rows:", ", ".join(f"{table} {count:,}" for table, count in counts.items()))


if __name__ == "__main__":
    main()
