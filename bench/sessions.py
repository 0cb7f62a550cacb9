"""Sessionizing throughput: the session sweep over a month of events.

    python bench/sessions.py [--users 10000] [--days 30] [--steady-keys 100 --steady-days 14]
                             [--live-keys 10000 --live-events 60]

Uses PULSEGATE_DATABASE_URL, or an embedded PostgreSQL in a temporary directory. It writes
events straight into `events`: each user is active on one day in three, with ten track calls
about 90 seconds apart (and for one user in four, a 40-minute pause after the fifth, which
splits that visit in two). 10,000 users over 30 days make 1,000,000 events. Every user's key is
queued as the projector would queue it, then the sweep runs until the queue is empty. Issue 4's
target: 1,000,000 events in at most 30 seconds on 2 cores.

Then keys that never pause (a server-side integration, a kiosk): `--steady-keys` keys with an
event every 10 minutes for `--steady-days` days, one chain each, cut into 24-hour sessions.
After the first sweep each key gets one new event, and the second sweep is timed: the cost of
keeping such a key current, which should not grow with how long it has been active.

Last, users in the middle of a visit (what the sweep meets every minute on a busy gateway):
`--live-keys` keys with a session of `--live-events` events a minute apart, swept; then one more
event each, and that sweep is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from database import migrated_database_url
from pulsegate.db.engine import create_engine
from pulsegate.serving import settle_garbage_collector
from pulsegate.sessions import sweep as session_sweep
from pulsegate.sessions.sweep import SweepResult
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

STEADY = """
INSERT INTO events (workspace_id, message_id, type, timestamp, user_id, anonymous_id, name,
                    module, properties)
SELECT %(w)s, format('s-%%s-%%s', u, k), 'track',
       %(start)s::timestamptz + make_interval(mins => k * %(every)s),
       'steady-' || u, 'steady-' || u, 'Feature ' || (k %% 7), 'Module ' || (k %% 5), '{}'
FROM generate_series(0, %(keys)s::int - 1) AS u, generate_series(%(first)s::int, %(last)s::int) AS k
"""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--steady-keys", type=int, default=100, help="0: skip that part")
    parser.add_argument("--steady-days", type=int, default=14)
    parser.add_argument("--live-keys", type=int, default=10_000, help="0: skip that part")
    parser.add_argument("--live-events", type=int, default=60)
    args = parser.parse_args()

    url = migrated_database_url()
    settle_garbage_collector()  # as the worker process that runs the sweep does
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
    result, took = await timed_sweep(engine, settings)
    await engine.dispose()
    print(
        f"sessionized {events:,} events of {result.keys:,} keys into {result.sessions:,} "
        f"sessions in {took}: {events / took.wall:,.0f} events/s "
        f"(target: 1,000,000 in <= 30 s)"
    )
    if args.steady_keys:
        days = args.steady_days
        first, second, events, took = await one_more_event(
            url, settings, keys=args.steady_keys, last=days * 24 * 6 - 1, every=10
        )
        print(
            f"{args.steady_keys:,} keys active for {days} days without a pause ({events:,} "
            f"events, {first.sessions:,} sessions): the sweep after one new event each rebuilt "
            f"{second.sessions:,} sessions in {took}"
        )
    if args.live_keys:
        first, second, events, took = await one_more_event(
            url, settings, keys=args.live_keys, last=args.live_events - 1, every=1
        )
        print(
            f"{args.live_keys:,} users in a session of {args.live_events} events a minute "
            f"apart: the sweep after one more event each took {took} "
            f"({second.continued:,} keys went on from their stored session)"
        )


async def one_more_event(
    url: str, settings: Settings, *, keys: int, last: int, every: int
) -> tuple[SweepResult, SweepResult, int, Took]:
    """Keys with an event every `every` minutes, numbered 0 to `last`, swept; then one more
    event each: both sweeps, the events, and the second sweep's time (the cost of keeping
    active keys current at every run of the sweep job)."""
    workspace = uuid.uuid4()
    params = {
        "w": workspace,
        "keys": keys,
        "start": "2026-10-01",
        "first": 0,
        "last": last,
        "every": every,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, str(workspace))
        )
        events = conn.execute(STEADY, params).rowcount
        conn.execute(QUEUE, {"w": workspace})
        conn.execute("VACUUM ANALYZE events")
    engine = create_engine(settings.async_database_url)
    first, _ = await timed_sweep(engine, settings)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STEADY, {**params, "first": last + 1, "last": last + 1})
        conn.execute(
            "INSERT INTO session_dirty (workspace_id, session_key, since) "
            "SELECT workspace_id, session_key, timestamp FROM events "
            "WHERE workspace_id = %(w)s AND message_id LIKE %(new)s",
            {"w": workspace, "new": f"s-%-{last + 1}"},
        )
    second, took = await timed_sweep(engine, settings)
    await engine.dispose()
    return first, second, events, took


@dataclass(frozen=True)
class Took:
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU: the sweep's Python, not PostgreSQL's

    def __str__(self) -> str:
        return f"{self.wall * 1000:,.0f} ms ({self.cpu * 1000:,.0f} ms of Python CPU)"


async def timed_sweep(engine: AsyncEngine, settings: Settings) -> tuple[SweepResult, Took]:
    started, cpu = time.perf_counter(), time.process_time()
    result = await session_sweep.sweep(engine, rules=settings.session_rules)
    return result, Took(time.perf_counter() - started, time.process_time() - cpu)


if __name__ == "__main__":
    asyncio.run(main())
