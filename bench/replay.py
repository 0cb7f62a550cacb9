"""Time `pulsegate replay` of a workspace filled by `bench/fill.py`, and weigh the tables.

    python bench/replay.py --state .pulsegate/bench-state.json

Does what `pulsegate replay --workspace ID` does on the state's database, timing the replay
and the session sweep after it apart, and prints the messages replayed per second, then the
size of every projection table (indexes and TOAST included) before and after, and the change.
Autovacuum runs as it would in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import psycopg
import structlog

from pulsegate.db.engine import create_engine
from pulsegate.projection.replay import replay_workspace
from pulsegate.sessions import sweep as session_sweep
from pulsegate.sessions.sessionize import SessionRules
from pulsegate.settings import Settings

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

TABLES = ("events", "sessions", "accounts", "users", "identities", "metric_values")


def sizes(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {
            table: int(conn.execute("SELECT pg_total_relation_size(%s)", (table,)).fetchone()[0])  # type: ignore[index]
            for table in TABLES
        }


async def replay(database_url: str, workspace_id: str) -> tuple[int, float, int, float]:
    """What `pulsegate replay` does (the replay, then a sweep of the requeued sessions),
    timed step by step."""
    engine = create_engine(Settings(database_url=database_url).async_database_url)
    try:
        began = time.monotonic()
        applied = await replay_workspace(engine, uuid.UUID(workspace_id))
        replayed = time.monotonic() - began
        began = time.monotonic()
        swept = await session_sweep.sweep(engine, rules=SessionRules())
        return applied, replayed, swept.sessions, time.monotonic() - began
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=Path(".pulsegate/bench-state.json"))
    args = parser.parse_args()
    state = json.loads(args.state.read_text())
    url, workspace_id = state["database_url"], state["tenants"][0]["workspace_id"]
    before = sizes(url)
    applied, replayed, sessions, swept = asyncio.run(replay(url, workspace_id))
    after = sizes(url)
    print(
        f"replayed {applied:,} messages in {replayed:.1f} s: {applied / replayed:,.0f} "
        f"messages/s; then the sweep rebuilt {sessions:,} sessions in {swept:.1f} s"
    )
    print(f"{'table':14} {'before MB':>10} {'after MB':>10} {'change':>8}")
    for table in TABLES:
        change = (after[table] - before[table]) / before[table] * 100 if before[table] else 0.0
        print(
            f"{table:14} {before[table] / 2**20:10.1f} {after[table] / 2**20:10.1f} {change:+7.1f}%"
        )
    total_before, total_after = sum(before.values()), sum(after.values())
    print(
        f"{'all':14} {total_before / 2**20:10.1f} {total_after / 2**20:10.1f} "
        f"{(total_after - total_before) / total_before * 100:+7.1f}%"
    )


if __name__ == "__main__":
    main()
