"""Where PostgreSQL's time goes under ingest: each statement's time a message.

    PULSEGATE_DATABASE_URL=postgresql://... python bench/statements.py [--duration 20]
        [--batch-size 100] [--connections 16] [--top 8]

Starts `pulsegate serve` on that database (it should be a fresh one: the figures are a
message of this run), sends a 3 s warm-up of bench/load.lua's traffic (100,000 users), resets
`pg_stat_statements`, sends `--duration` seconds more and waits until the projector has
applied it all. Then prints the statements that took the most time, each with its execution
time a stored message of the run (writer, projector, sweep if one ran, health polls), its
calls and rows: the figure to compare before and after a change to a statement, steadier than
throughput on a shared machine.

Needs `pg_stat_statements` preloaded by the server (`shared_preload_libraries`, a restart);
the embedded PostgreSQL does not load it, so this runs on a server only.
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from run import (
    bench_write_key,
    ensure_wrk,
    free_port,
    gateway_env,
    start,
    wait_projected,
    wait_ready,
)

BENCH_DIR = Path(__file__).resolve().parent

TOP = """
SELECT total_exec_time, calls, rows, regexp_replace(query, '\\s+', ' ', 'g')
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT %s
"""


def send(wrk: str, url: str, auth: str, args: argparse.Namespace, seconds: int) -> None:
    path = "/v1/batch" if args.batch_size > 1 else "/v1/track"
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_BATCH": str(args.batch_size),
        "BENCH_AUTH": auth,
        "BENCH_RUN": uuid.uuid4().hex[:8],
    }
    command = [wrk, "-t1", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(BENCH_DIR / "load.lua"), url + path]
    subprocess.run(command, env=env, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds measured")
    parser.add_argument("--batch-size", type=int, default=100, help="1: single /v1/track calls")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    database_url = os.environ.get("PULSEGATE_DATABASE_URL")
    if not database_url:
        sys.exit("set PULSEGATE_DATABASE_URL to a server that preloads pg_stat_statements")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    wrk = ensure_wrk()

    work = Path(tempfile.mkdtemp(prefix="pulsegate-bench-"))
    env, admin_token = gateway_env(work)
    port = free_port()
    command = [sys.executable, "-m", "pulsegate", "serve", "--port", str(port)]
    server = start(command, env, work / "gateway.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/readyz", server, work / "gateway.log")
        key = bench_write_key(url, work / "data" / "credentials.json", admin_token)
        auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        send(wrk, url, auth, args, 3)
        wait_projected(url, admin_token)
        with psycopg.connect(database_url, autocommit=True) as conn:
            before = count(conn)
            conn.execute("SELECT pg_stat_statements_reset()")
        send(wrk, url, auth, args, args.duration)
        wait_projected(url, admin_token)
        with psycopg.connect(database_url) as conn:
            messages = count(conn) - before
            rows = conn.execute(TOP, (args.top,)).fetchall()
    finally:
        server.terminate()
        server.wait(30)

    print(f"{messages:,} messages stored in {args.duration} s ({messages / args.duration:,.0f}/s)")
    print(f"\n{'us/msg':>8}{'calls':>8}{'rows':>10}  statement")
    for total_ms, calls, count_rows, query in rows:
        per_message = total_ms * 1000 / max(messages, 1)
        print(f"{per_message:>8.1f}{calls:>8}{count_rows:>10}  {query[:100]}")


def count(conn: psycopg.Connection[tuple[int]]) -> int:
    row = conn.execute("SELECT count(*) FROM inbound_messages").fetchone()
    return int(row[0]) if row else 0


if __name__ == "__main__":
    main()
