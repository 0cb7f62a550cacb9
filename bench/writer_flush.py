"""The writer's statement: PostgreSQL's CPU a flush, planned each time or once, checking for
stored ids or not.

    python bench/writer_flush.py [--compare plans|conflicts] [--flushes 3000] [--sizes 8,60]

Uses PULSEGATE_DATABASE_URL, or an embedded PostgreSQL in a temporary directory. It stores
flushes of new messages, of each of `--sizes` (8 and 60: a flush's size at half and at full
single-event load, bench/README.md; 500 is a batched flush), on two connections that take
turns, and prints the backend's CPU (read from /proc: PostgreSQL must run on this machine)
and the wall time a flush. What the two connections differ in is `--compare`:

- `plans`: one with PostgreSQL's default plan cache (once psycopg has prepared the
  statement, it is still planned at each run unless a generic plan's estimate is as good),
  one with the options of the writer's connections (`ingest/connections.py`: a generic plan);
- `conflicts`: both with the writer's options, one storing each flush as all new (the
  statement the writer tries first), one with the statement that skips stored ids
  (`ON CONFLICT DO NOTHING`, what a flush holding a retried message runs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from database import migrated_database_url
from pulsegate.ingest.connections import OPTIONS
from pulsegate.ingest.repository import (
    _INSERT_NEW,
    _INSERT_SKIPPING,
    InboundRow,
    inbound_parameters,
)
from pulsegate.settings import Settings

# What each connection is: name, its options, the statement it stores flushes with.
VARIANTS = {
    "plans": (("each run", "-c jit=off", _INSERT_NEW), ("generic", OPTIONS, _INSERT_NEW)),
    "conflicts": (("as new", OPTIONS, _INSERT_NEW), ("skipping", OPTIONS, _INSERT_SKIPPING)),
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def flush_rows(workspace: uuid.UUID, source: uuid.UUID, name: str, size: int) -> list[InboundRow]:
    now = datetime.now(UTC)
    return [
        InboundRow(
            workspace_id=workspace,
            source_id=source,
            message_id=f"{name}-{i}",
            type="track",
            received_at=now,
            timestamp=now,
            message={
                "type": "track",
                "messageId": f"{name}-{i}",
                "userId": f"user-{i}",
                "event": "Report Built",
                "properties": {"module": "Reports", "rows": 42},
                "context": {"library": {"name": "bench", "version": "1"}},
            },
            warnings=None,
        )
        for i in range(size)
    ]


async def compare(
    url: str, variants: tuple[tuple[str, str, str], ...], size: int, flushes: int, rounds: int = 20
) -> dict[str, tuple[float, float]]:
    """Backend CPU and wall time a flush (us) for each variant. The two connections take
    turns, `rounds` times, so that a drift of the machine's speed weighs on both alike."""
    workspace, source = uuid.uuid4(), uuid.uuid4()
    connections = {
        name: (await psycopg.AsyncConnection.connect(url, autocommit=True, options=options), sql)
        for name, options, sql in variants
    }
    window = timedelta(days=7)

    async def store(name: str, label: str) -> None:
        connection, statement = connections[name]
        rows = flush_rows(workspace, source, label, size)
        await connection.execute(statement, inbound_parameters(rows, window=window))

    totals = dict.fromkeys(connections, (0.0, 0.0))
    try:
        for name in connections:  # warm-up: past psycopg's preparing
            for n in range(20):
                await store(name, f"warm-{name}-{n}")
        for turn in range(rounds):
            for name, (connection, _) in connections.items():
                pid = connection.info.backend_pid
                cpu, start = cpu_seconds(pid), time.perf_counter()
                for n in range(flushes // rounds):
                    await store(name, f"{name}-{turn}-{n}")
                wall = time.perf_counter() - start
                before = totals[name]
                totals[name] = (before[0] + cpu_seconds(pid) - cpu, before[1] + wall)
    finally:
        for connection, _ in connections.values():
            await connection.close()
    done = flushes // rounds * rounds
    return {name: (cpu / done * 1e6, wall / done * 1e6) for name, (cpu, wall) in totals.items()}


async def run(url: str, compared: str, flushes: int, sizes: list[int]) -> None:
    print(
        f"{'messages a flush':>17}{'variant':>10}{'backend us':>12}{'a message':>11}{'wall us':>9}"
    )
    for size in sizes:
        # The same messages a size: fewer flushes of more messages.
        results = await compare(url, VARIANTS[compared], size, max(flushes * 8 // size, 20))
        for name, (backend, wall) in results.items():
            print(f"{size:>17}{name:>10}{backend:>12.0f}{backend / size:>11.1f}{wall:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", choices=list(VARIANTS), default="plans")
    parser.add_argument(
        "--flushes",
        type=int,
        default=3000,
        help="flushes of 8 (of a larger size: as many messages)",
    )
    parser.add_argument("--sizes", default="8,60", help="messages a flush, comma-separated")
    args = parser.parse_args()
    url = Settings(database_url=migrated_database_url()).libpq_database_url
    sizes = [int(size) for size in args.sizes.split(",")]
    asyncio.run(run(url, args.compare, args.flushes, sizes))


if __name__ == "__main__":
    main()
