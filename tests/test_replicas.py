"""Two `pulsegate serve` processes on one database, as two replicas behind a load balancer:
each trigger of each job runs once, the work is not done twice, and when one replica is
killed in the middle of a job the other takes the next trigger.

A replica is a `serve` process and the background process it runs the jobs and the projector
in (`PULSEGATE_BACKGROUND_PROCESS`): a job run's host names the latter, whose parent is the
former."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.connectors import MAPPINGS, MATCH, PLAN_FIELD
from tests.support.emulator import running_emulator
from tests.support.servers import LiveServer, start_server
from tests.support.tenants import Tenant, create_tenant
from tests.support.waiting import eventually_sync

# Every job often: the nightly chain every 3 s (a sixth, leading cron field is seconds).
FAST = {
    "PULSEGATE_NIGHTLY_CRON": "*/3 * * * * *",
    "PULSEGATE_OUTBOX_INTERVAL_SECONDS": "1",
    "PULSEGATE_SESSION_SWEEP_SECONDS": "2",
    "PULSEGATE_SHUTDOWN_GRACE_SECONDS": "1",
}


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(found: Callable[[], list[dict[str, Any]]], what: str, seconds: float = 30) -> Any:
    """The first row `found()` returns, once it returns any."""
    return eventually_sync(found, timeout=seconds, interval=0.2, what=what)[0]


def pid_of(host: str) -> int:
    return int(host.rsplit(":", 1)[1])


def send_twice(servers: list[LiveServer], tenant: Tenant) -> None:
    """The same batch through both replicas, as an SDK retrying on another connection."""
    batch = [
        {
            "type": "group",
            "messageId": "g-1",
            "userId": "u-1",
            "groupId": "acme",
            "traits": {"name": "Acme", "createdAt": "2024-01-01"},
        },
        *(
            {"type": "track", "messageId": f"t-{n}", "userId": "u-1", "event": "Opened"}
            for n in range(3)
        ),
    ]
    for server in servers:
        response = httpx.post(
            f"{server.url}/v1/batch", json={"batch": batch}, auth=(tenant.write_key, "")
        )
        assert response.json() == {"success": True}


def test_each_trigger_runs_once_and_a_killed_replica_hands_over(
    scratch_database: str, tmp_path: Path
) -> None:
    db = scratch_database
    with running_emulator() as emulator:
        emulator.state.fields["sales_accounts"].append(PLAN_FIELD)
        first = start_server(db, tmp_path / "a", **FAST)  # migrates the empty database
        second: LiveServer | None = None
        try:
            tenant = asyncio.run(create_tenant(db))
            second = start_server(db, tmp_path / "b", **FAST)
            replicas = {first.process.pid: first, second.process.pid: second}
            send_twice([first, second], tenant)
            # Several triggers of every job: six of the outbox's (every second) and two
            # nightly chains (every three seconds) at least.
            eventually_sync(
                lambda: query(
                    db,
                    "SELECT count(*) FILTER (WHERE job = 'outbox_delivery') AS outbox, "
                    "count(*) FILTER (WHERE job = 'nightly' AND status <> 'running') AS nightly "
                    "FROM job_runs WHERE trigger = 'schedule'",
                )[0],
                lambda seen: seen["outbox"] >= 7 and seen["nightly"] >= 2,
                timeout=30,
                interval=0.2,
                what="several triggers of every job",
            )

            runs = query(
                db,
                "SELECT job, scheduled_for, host, status FROM job_runs "
                "WHERE trigger = 'schedule' ORDER BY scheduled_for",
            )
            by_job: dict[str, list[Any]] = {}
            for run in runs:
                by_job.setdefault(run["job"], []).append(run["scheduled_for"])
                assert parent_of(pid_of(run["host"])) in replicas
            assert {"outbox_delivery", "session_sweep", "nightly"} <= set(by_job)
            for job, slots in by_job.items():
                assert len(slots) == len(set(slots)), job  # once per trigger
            # No trigger was lost between the first and the last either replica saw.
            outbox = by_job["outbox_delivery"]
            assert len(outbox) >= 6
            assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(outbox))
            nightly = by_job["nightly"]
            assert all(b - a == timedelta(seconds=3) for a, b in itertools.pairwise(nightly))
            # Each nightly run ran each of its steps once.
            steps = Counter(
                row["job"]
                for row in query(db, "SELECT job FROM job_runs WHERE trigger = 'nightly'")
            )
            finished = query(
                db,
                "SELECT count(*) AS n FROM job_runs WHERE job = 'nightly' AND status <> 'running'",
            )[0]["n"]
            for step in ("connector_sync", "health_scores", "reverse_sync"):
                assert finished <= steps[step] <= finished + 1, (step, steps, finished)
            # Nothing stored or scored twice.
            assert query(db, "SELECT count(*) AS n FROM inbound_messages") == [{"n": 4}]
            assert query(db, "SELECT account_id, count(*) AS n FROM health_scores GROUP BY 1") == [
                {"account_id": "acme", "n": 1}
            ]

            # A slow CRM makes the nightly connector sync last; kill the replica running it.
            created = httpx.post(
                f"{first.url}/api/v1/connectors",
                json={
                    "kind": "freshsales",
                    "name": "crm",
                    "domain": emulator.url,
                    "api_key": "test-key",
                    "mappings": MAPPINGS,
                    "match": MATCH,
                },
                headers={"Authorization": f"Bearer {tenant.api_key}"},
            )
            assert created.status_code == 201, created.text
            emulator.state.faults.delay_seconds = 3
            killed = wait_for(
                lambda: query(
                    db,
                    "SELECT id, host, scheduled_for FROM job_runs WHERE job = 'connector_sync' "
                    "AND status = 'running'",
                ),
                "a slow connector sync",
            )
            # The whole replica dies, as its machine would: both of its processes.
            background = pid_of(killed["host"])
            replica = parent_of(background)
            assert replica is not None
            victim = replicas.pop(replica)
            os.kill(background, signal.SIGKILL)
            victim.process.kill()
            victim.process.wait(10)
            [[survivor_pid, survivor]] = replicas.items()
            [nightly_killed] = query(
                db,
                "SELECT id, scheduled_for FROM job_runs WHERE "
                "job = 'nightly' AND status = 'running'",
            )

            taken = wait_for(
                lambda: query(
                    db,
                    "SELECT id, host FROM job_runs WHERE job = 'nightly' AND id > %s",
                    nightly_killed["id"],
                ),
                "the survivor's next nightly run",
            )
            assert parent_of(pid_of(taken["host"])) == survivor_pid
            emulator.state.faults.delay_seconds = 0
            wait_for(
                lambda: query(
                    db,
                    "SELECT 1 FROM job_runs WHERE id = %s AND status IN ('succeeded', 'idle')",
                    taken["id"],
                ),
                "the survivor's nightly run to finish",
            )
            statuses = query(
                db,
                "SELECT id, status FROM job_runs WHERE id IN (%s, %s)",
                nightly_killed["id"],
                killed["id"],
            )
            assert {row["status"] for row in statuses} == {"interrupted"}
            assert httpx.get(f"{survivor.url}/readyz").status_code == 200
        finally:
            if second is not None:
                second.stop()
            first.stop()


def test_serve_with_workers_runs_background_work_in_one_process(
    scratch_database: str, tmp_path: Path
) -> None:
    db = scratch_database
    server = start_server(db, tmp_path / "w", "--workers", "2", **FAST)
    try:
        tenant = asyncio.run(create_tenant(db))
        send_twice([server], tenant)
        bearer = {"Authorization": f"Bearer {tenant.api_key}"}
        wait_for(
            lambda: (
                [1]
                if httpx.get(f"{server.url}/api/v1/accounts/acme", headers=bearer).status_code
                == 200
                else []
            ),
            "the background process to project the account",
        )
        # Enough job runs that a second process running jobs would have shown among them.
        outbox_runs = "SELECT count(*) AS n FROM job_runs WHERE job = 'outbox_delivery'"
        eventually_sync(
            lambda: query(db, outbox_runs)[0]["n"],
            lambda runs: runs >= 3,
            timeout=30,
            interval=0.2,
            what="three runs of the outbox job",
        )
        hosts = query(db, "SELECT DISTINCT host FROM job_runs")
        assert len(hosts) == 1  # not once per HTTP process
        assert pid_of(hosts[0]["host"]) != server.process.pid
        # The background process's job metrics reach the HTTP processes' /metrics.
        metrics = httpx.get(f"{server.url}/metrics").text
        runs = [
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('pulsegate_job_duration_seconds_count{job="outbox_delivery"')
        ]
        assert sum(runs) >= 2
    finally:
        server.stop()


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def background_pids(database_url: str, server_pid: int) -> set[int]:
    """Processes of `serve` connected to the database, its HTTP process aside."""
    rows = query(
        database_url,
        "SELECT DISTINCT application_name AS name FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name LIKE 'pulsegate:%%'",
    )
    pids = {int(row["name"].split(":")[1]) for row in rows}
    return {pid for pid in pids if pid != server_pid and parent_of(pid) == server_pid}


def the_background_process(database_url: str, server: LiveServer) -> int:
    [pid] = eventually_sync(
        lambda: background_pids(database_url, server.process.pid),
        lambda pids: len(pids) == 1,
        timeout=30,
        interval=0.2,
        what="the background process connected",
    )
    return pid


def test_serve_runs_background_work_in_a_process_of_its_own_and_restarts_it(
    scratch_database: str, tmp_path: Path
) -> None:
    """One HTTP process by default, and a child process that projects and runs the jobs; the
    child killed, another takes its place; `serve` stopped, neither is left running."""
    db = scratch_database
    server = start_server(db, tmp_path / "s", **FAST)
    try:
        tenant = asyncio.run(create_tenant(db))
        send_twice([server], tenant)
        wait_for(
            lambda: query(db, "SELECT 1 FROM accounts WHERE account_id = 'acme'"),
            "the background process to project the account",
        )
        runs = wait_for(lambda: query(db, "SELECT host FROM job_runs LIMIT 1"), "a job run")
        worker = the_background_process(db, server)
        assert pid_of(runs["host"]) == worker != server.process.pid

        os.kill(worker, signal.SIGKILL)
        [replacement] = eventually_sync(
            lambda: background_pids(db, server.process.pid) - {worker},
            lambda pids: len(pids) == 1,
            timeout=30,
            interval=0.2,
            what="a new background process",
        )
        sent = httpx.post(
            f"{server.url}/v1/track",
            auth=(tenant.write_key, ""),
            json={"type": "track", "messageId": "after-kill", "userId": "u-1", "event": "Saved"},
        )
        assert sent.status_code == 200
        wait_for(
            lambda: query(db, "SELECT 1 FROM events WHERE message_id = 'after-kill'"),
            "the new background process to project a message sent after the kill",
        )
        server.process.kill()  # `serve` itself dies: its background process stops too
        server.process.wait(10)
        eventually_sync(
            lambda: parent_of(replacement),
            lambda parent: parent is None,
            timeout=30,
            interval=0.2,
            what="the orphaned background process to stop",
        )
    finally:
        server.stop()


def test_serve_stopped_with_sigterm_exits_0_and_stops_its_background_process(
    scratch_database: str, tmp_path: Path
) -> None:
    server = start_server(scratch_database, tmp_path / "s", **FAST)
    try:
        background = the_background_process(scratch_database, server)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        assert parent_of(background) is None
        assert "worker.stopped" in server.log_path.read_text()
    finally:
        server.stop()
