"""Ingest benchmark: pulsegate against a no-op FastAPI app, under the same load, in one run.

    python bench/run.py [--duration 15] [--half-duration 60] [--connections 64] [...]

Starts `pulsegate serve` (embedded PostgreSQL in a temporary directory, unless
PULSEGATE_DATABASE_URL is set) and `bench/noop_app.py`, each as one uvicorn process, and drives
both with wrk (Debian package `wrk`, installed with apt-get when missing):

1. single-event `POST /v1/track`, 64 connections; then the same at half that rate, after a
   CHECKPOINT, for `--half-duration` seconds (60), for the p99 of a gateway that is not loaded,
   with a probe of the disk's `fdatasync` beside it (bench/disk.py);
2. `POST /v1/batch` with 100 events per request.

It prints req/s, events/s, p50/p99 latency, the ratios, and the CPU each message cost: in the
server's process tree (and of it, its HTTP process: `serve` projects and runs jobs in a process of
its own) and in PostgreSQL's processes, separately (bench/cpu.py), counted from the
start of a measurement until the projector has applied every message it stored, so a projector
that falls behind is not left out. Then it runs a session sweep and prints what it cost (server
and PostgreSQL) a message of the run apart: the sessions of the run's users, the last step of a
message's way. The scheduler's sweep, every minute, falls inside some runs (its PostgreSQL time
then counts in the run's) and not others (then the sweep after the run does all its work), so
PostgreSQL's CPU a message is also printed with the sweep's part added ("postgres+sweep"), the
figure to compare across runs. At the end it counts the stored rows.
Not part of the test suite: timings belong here.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from cpu import CpuSample, embedded_servers, sample
from disk import FsyncLatencies, FsyncProbe

BENCH_DIR = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str
    requests_per_second: float
    events_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int
    messages: int  # acknowledged
    cpu: CpuSample  # seconds, over the measurement and the projector catching up
    sweep: CpuSample | None  # seconds, of a session sweep of the run's keys after that
    disk: FsyncLatencies | None = None  # a probe's fdatasyncs beside the load (bench/disk.py)

    def per_message_us(self, seconds: float) -> float:
        return seconds / max(self.messages, 1) * 1e6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: apt-get install wrk")
    return found


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited:\n{log.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    sys.exit(f"server did not start:\n{log.read_text()}")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def run_wrk(
    wrk: str,
    *,
    url: str,
    name: str,
    duration: int,
    connections: int,
    batch: int,
    auth: str,
    server: subprocess.Popen[bytes],
    admin_token: str | None,
    delay_ms: float = 0,
    probe_disk: Path | None = None,
) -> Result:
    path = "/v1/batch" if batch > 1 else "/v1/track"
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_BATCH": str(batch),
        "BENCH_AUTH": auth,
        "BENCH_RUN": uuid.uuid4().hex[:8],
        "BENCH_DELAY_MS": f"{delay_ms:.3f}",
    }
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH_DIR / "load.lua"),
        url + path,
    ]
    wait_projected(url, admin_token)
    before = sample(server.pid)
    with FsyncProbe(probe_disk) if probe_disk else contextlib.nullcontext() as disk:
        output = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    wait_projected(url, admin_token)
    cpu = sample(server.pid) - before
    sweep = swept(url, admin_token, server.pid)
    line = next(x for x in output.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    data = json.loads(line.removeprefix("BENCH_RESULT "))
    seconds = data["duration_us"] / 1e6
    ok_requests = data["requests"] - data["non_2xx"]
    return Result(
        name=name,
        requests_per_second=data["requests"] / seconds,
        events_per_second=ok_requests * batch / seconds,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"],
        requests=data["requests"],
        messages=ok_requests * batch,
        cpu=cpu,
        sweep=sweep,
        disk=disk.latencies if disk else None,
    )


def swept(url: str, admin_token: str | None, pid: int) -> CpuSample | None:
    """The CPU of a session sweep run now (through the jobs API, after the one the scheduler
    may be running), which rebuilds the sessions of every key the run's events queued: the
    last step from a message to what a customer-success team reads, measured apart because
    the scheduler's sweep, every minute, falls inside some measurements and not others."""
    if admin_token is None:
        return None
    headers = {"Authorization": f"Bearer {admin_token}"}
    jobs = f"{url}/admin/jobs/session_sweep/runs"
    deadline = time.monotonic() + 600
    before = sample(pid)
    while (started := httpx.post(jobs, headers=headers, timeout=30)).status_code == 409:
        time.sleep(0.1)  # the scheduler's run: its work is then this one's
    started.raise_for_status()
    run = started.json()
    while run["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = httpx.get(f"{jobs}/{run['id']}", headers=headers, timeout=30).json()
    if run["status"] not in ("succeeded", "idle"):
        sys.exit(f"the session sweep ended {run['status']}: {run.get('error')}")
    return sample(pid) - before


def half_load(
    measure: functools.partial[Result],
    full: Result,
    args: argparse.Namespace,
    *,
    database: str,
    disk: Path,
) -> Result:
    """Single events at half the rate measured at full load: each connection pauses between
    requests (a random pause, bench/load.lua), its mean set by a short probe (rate =
    connections / (mean pause + latency)).

    At half load the p99 is set by the rare stall, so two things make it the p99 of a running
    gateway rather than of a young one (bench/README.md, "The half-load p99"):
    - a CHECKPOINT first. Until its first checkpoint a new cluster has no WAL segment to
      recycle: every 16 MB of WAL is a new file, zero-filled by the committing backend while
      every other commit waits (40-60 ms on this machine, every 2 s at this load). A gateway
      that has run for its first gigabyte of WAL recycles its segments at each checkpoint.
    - `--half-duration` seconds (60 unless told) instead of `--duration`: in 15 s at 3,000
      requests a second, one 150 ms stall (an fsync that waits on the disk) holds back 1% of
      the requests by itself, and a minute always holds one scheduled session sweep.

    A probe writes and syncs a file on `disk` beside the load (bench/disk.py): how long the disk
    held every commit while the p99 was measured. `disk` is the run's temporary directory, the
    embedded PostgreSQL's file system; with PULSEGATE_DATABASE_URL, the server's may differ."""
    checkpoint(database)
    target = full.requests_per_second / 2
    pause = args.connections / target * 1000
    probe = measure(name="probe", duration=3, delay_ms=pause)
    latency = args.connections / probe.requests_per_second * 1000 - pause
    pause = max(args.connections / target * 1000 - latency, 0.0)
    return measure(
        name="pulsegate half", duration=args.half_duration, delay_ms=pause, probe_disk=disk
    )


def wait_projected(url: str, admin_token: str | None) -> None:
    """Until the gateway's projector has applied everything stored (the no-op has none)."""
    if admin_token is None:
        return
    headers = {"Authorization": f"Bearer {admin_token}"}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        health = httpx.get(f"{url}/admin/health", headers=headers, timeout=30).json()
        if health["inbound"]["backlog"] == 0 and health["inbound"]["writer_pending"] == 0:
            return
        time.sleep(0.25)
    sys.exit("the projector did not catch up within 10 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument(
        "--half-duration", type=int, default=60, help="seconds of the half-load measurement"
    )
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--batch-connections", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument(
        "--log-level",
        default="WARNING",
        help="the gateway's PULSEGATE_LOG_LEVEL: INFO (its default) adds a log line a request",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    wait_for_embedded_servers()

    work = Path(tempfile.mkdtemp(prefix="pulsegate-bench-"))
    env, admin_token = gateway_env(work, log_level=args.log_level)
    gateway_port, noop_port = free_port(), free_port()
    gateway = start(
        [sys.executable, "-m", "pulsegate", "serve", "--port", str(gateway_port)],
        env,
        work / "gateway.log",
    )
    noop = start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "noop_app:app",
            "--port",
            str(noop_port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--app-dir",
            str(BENCH_DIR),
        ],
        env,
        work / "noop.log",
    )
    results: list[Result] = []
    try:
        gateway_url, noop_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{noop_port}"
        wait_ready(gateway_url + "/readyz", gateway, work / "gateway.log")
        wait_ready(noop_url + "/docs", noop, work / "noop.log")
        write_key = bench_write_key(gateway_url, work / "data" / "credentials.json", admin_token)
        auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        for batch, connections in (
            (1, args.connections),
            (args.batch_size, args.batch_connections),
        ):
            for name, url, server, token in (
                ("no-op", noop_url, noop, None),
                ("pulsegate", gateway_url, gateway, admin_token),
            ):
                measure = functools.partial(
                    run_wrk,
                    wrk,
                    url=url,
                    connections=connections,
                    batch=batch,
                    auth=auth,
                    server=server,
                    admin_token=token,
                )
                measure(name=name, duration=2)  # a warm-up run first, not reported
                label = f"{name} {'track' if batch == 1 else 'batch'}"
                results.append(measure(name=label, duration=args.duration))
                if name == "pulsegate" and batch == 1:
                    results.append(
                        half_load(measure, results[-1], args, database=database_of(work), disk=work)
                    )
        stored = count_stored(database_of(work))
    finally:
        for process in (gateway, noop):
            process.terminate()
            process.wait(30)
    report(results, args, stored)
    shutil.rmtree(work, ignore_errors=True)


def wait_for_embedded_servers(timeout: float = 120) -> None:
    """Wait until no embedded PostgreSQL runs but this run's own (started after this): an
    earlier run's server, which some versions left behind and which stops within a minute of
    its data directory's removal, would count as this run's PostgreSQL (bench/cpu.py)."""
    deadline = time.monotonic() + timeout
    while servers := embedded_servers():
        if time.monotonic() > deadline:
            sys.exit(
                f"embedded PostgreSQL still running (pids {servers}): its CPU would count as "
                "this run's; stop it and run again"
            )
        print(f"waiting for {len(servers)} embedded PostgreSQL server(s) to stop", flush=True)
        time.sleep(5)


def gateway_env(work: Path, *, log_level: str = "WARNING") -> tuple[dict[str, str], str]:
    """The environment a benchmark's `pulsegate serve` runs with (its data under `work`), and
    the admin token it is given."""
    admin_token = f"bench-{uuid.uuid4().hex}"
    env = {
        **os.environ,
        "PULSEGATE_DATA_DIR": str(work / "data"),
        "PULSEGATE_LOG_LEVEL": log_level,
        # A benchmark measures the gateway at full speed, not the per-source rate limit.
        "PULSEGATE_SOURCE_RATE_LIMIT": "0",
        "PULSEGATE_ADMIN_TOKEN": admin_token,
    }
    return env, admin_token


def bench_write_key(gateway_url: str, credentials: Path, admin_token: str) -> str:
    """The first start's write key, or on a database already in use (bench/full_log.py) a new
    workspace's, made through the admin API."""
    if credentials.exists():
        return str(json.loads(credentials.read_text())["write_key"])
    headers = {"Authorization": f"Bearer {admin_token}"}
    workspace = httpx.post(
        f"{gateway_url}/admin/workspaces", json={"name": f"bench-{uuid.uuid4()}"}, headers=headers
    ).json()
    source = httpx.post(
        f"{gateway_url}/admin/workspaces/{workspace['id']}/sources",
        json={"name": "bench"},
        headers=headers,
    ).json()
    return str(source["write_key"])


def database_of(work: Path) -> str:
    """The gateway's database: PULSEGATE_DATABASE_URL, or the embedded server's, which
    listens on a socket in its data directory (`pulsegate.db.embedded`)."""
    url = os.environ.get("PULSEGATE_DATABASE_URL")
    if url is not None:
        return url.replace("postgresql+psycopg://", "postgresql://", 1)
    return f"host={work / 'data' / 'postgres'} dbname=pulsegate user=postgres"


def checkpoint(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def count_stored(database: str) -> int:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT count(*) FROM inbound_messages").fetchone()
    return int(row[0]) if row else 0


def report(results: list[Result], args: argparse.Namespace, stored: int) -> None:
    print(
        f"\n{'run':<18}{'req/s':>10}{'events/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'server us/msg':>15}{'of it HTTP':>12}{'postgres us/msg':>17}{'sweep us/msg':>14}"
        f"{'postgres+sweep':>16}"
    )
    for r in results:
        print(
            f"{r.name:<18}{r.requests_per_second:>10.0f}{r.events_per_second:>12.0f}"
            f"{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.non_2xx:>9}"
            f"{r.per_message_us(r.cpu.gateway):>15.1f}{r.per_message_us(r.cpu.http):>12.1f}"
            f"{r.per_message_us(r.cpu.postgres):>17.1f}"
            + (
                f"{r.per_message_us(r.sweep.gateway + r.sweep.postgres):>14.1f}"
                f"{r.per_message_us(r.cpu.postgres + r.sweep.postgres):>16.1f}"
                if r.sweep
                else ""
            )
        )
    by_name = {r.name: r for r in results}
    track, noop_track = by_name["pulsegate track"], by_name["no-op track"]
    batch, noop_batch = by_name["pulsegate batch"], by_name["no-op batch"]
    track_ratio = track.requests_per_second / noop_track.requests_per_second
    batch_ratio = batch.events_per_second / noop_batch.events_per_second
    track_cpu = track.per_message_us(track.cpu.gateway)
    noop_cpu = noop_track.per_message_us(noop_track.cpu.gateway)
    print(
        f"\nsingle-event /v1/track, {args.connections} connections: "
        f"pulsegate/no-op = {track_ratio:.2f} of the requests (target >= 0.6); "
        f"server CPU {track_cpu:.0f} us against {noop_cpu:.0f} us = {track_cpu / noop_cpu:.2f}x "
        "(target <= 1.3x)"
    )
    print(
        f"/v1/batch x{args.batch_size}, {args.batch_connections} connections: "
        f"pulsegate {batch.events_per_second:,.0f} events/s (target >= 40,000); "
        f"pulsegate/no-op = {batch_ratio:.0%}"
    )
    half = by_name["pulsegate half"]
    print(
        f"half load, {half.requests_per_second:,.0f} requests/s for {args.half_duration} s: "
        f"p99 {half.p99_ms:.1f} ms (target <= 25 ms)"
    )
    if half.disk is not None:
        print(f"  the disk beside it (bench/disk.py): {half.disk.summary()}")
    print(f"rows in inbound_messages after the run: {stored:,}")


if __name__ == "__main__":
    main()
