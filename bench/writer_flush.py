"""The writer's statement: PostgreSQL's CPU a flush, planned each time or once.

    python bench/writer_flush.py [--flushes 3000]

Uses PULSEGATE_DATABASE_URL, or an embedded PostgreSQL in a temporary directory. It stores
flushes of 8 and of 60 new messages (a flush's size at half and at full single-event load,
bench/README.md) through `insert_inbound` on two connections: one with PostgreSQL's default
plan cache (once psycopg has prepared the statement, it is still planned at each run unless a
generic plan's estimate is as good), one with the options of the writer's connections
(`ingest/connections.py`: a generic plan). They take turns. It prints the backend's CPU (read
from /proc: PostgreSQL must run on this machine) and the wall time a flush.
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
from pulsegate.ingest.repository import InboundRow, insert_inbound
from pulsegate.settings import Settings

TICKS = os.sysconf("SC_CLK_TCK")
PLANS = (("each run", "-c jit=off"), ("generic", OPTIONS))


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
    url: str, size: int, flushes: int, rounds: int = 20
) -> dict[str, tuple[float, float]]:
    """Backend CPU and wall time a flush (us) for each plan. The two connections take turns,
    `rounds` times, so that a drift of the machine's speed weighs on both alike."""
    workspace, source = uuid.uuid4(), uuid.uuid4()
    connections = {
        plan: await psycopg.AsyncConnection.connect(url, autocommit=True, options=options)
        for plan, options in PLANS
    }
    totals = dict.fromkeys(connections, (0.0, 0.0))
    try:
        for plan, connection in connections.items():  # warm-up: past psycopg's preparing
            for n in range(20):
                rows = flush_rows(workspace, source, f"warm-{plan}-{n}", size)
                await insert_inbound(connection, rows, window=timedelta(days=7))
        for turn in range(rounds):
            for plan, connection in connections.items():
                pid = connection.info.backend_pid
                cpu, start = cpu_seconds(pid), time.perf_counter()
                for n in range(flushes // rounds):
                    rows = flush_rows(workspace, source, f"{plan}-{turn}-{n}", size)
                    await insert_inbound(connection, rows, window=timedelta(days=7))
                wall = time.perf_counter() - start
                before = totals[plan]
                totals[plan] = (before[0] + cpu_seconds(pid) - cpu, before[1] + wall)
    finally:
        for connection in connections.values():
            await connection.close()
    done = flushes // rounds * rounds
    return {plan: (cpu / done * 1e6, wall / done * 1e6) for plan, (cpu, wall) in totals.items()}


async def run(url: str, flushes: int) -> None:
    print(f"{'messages a flush':>17}{'plan':>10}{'backend us':>12}{'a message':>11}{'wall us':>9}")
    for size in (8, 60):
        results = await compare(url, size, flushes if size == 8 else flushes // 4)
        for plan, (backend, wall) in results.items():
            print(f"{size:>17}{plan:>10}{backend:>12.0f}{backend / size:>11.1f}{wall:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flushes", type=int, default=3000, help="flushes of 8 (of 60: a 4th)")
    args = parser.parse_args()
    url = Settings(database_url=migrated_database_url()).libpq_database_url
    asyncio.run(run(url, args.flushes))


if __name__ == "__main__":
    main()
