"""Time every REST read on a database filled by `bench/fill.py`, as an operator would.

    python bench/reads.py --state .pulsegate/bench-state.json [--repeat 40]

Starts `pulsegate serve` on the filled database and, for the first workspace of the state file,
times each read `--repeat` times, each time for another user and account (spread evenly over
the workspace's lists), through HTTP. Lists are timed on their first page
and on a deep page (a cursor near the end of the list). The health-score run is timed
`--runs` times. Prints p50 and p99 in milliseconds; with 40 samples, p99 is the slowest but one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from pulsegate.api.pagination import encode_cursor, encode_id_cursor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fill import start_server

WINDOW = "since=2026-10-01T00:00:00Z&until=2026-10-31T00:00:00Z"


def deep_cursors(database_url: str, workspace_id: str) -> dict[str, str]:
    """Cursors a tenth of the way from the end of the events, sessions and accounts lists."""
    lists = {
        "events": "SELECT timestamp, id FROM events WHERE workspace_id = %(w)s",
        "sessions": "SELECT started_at, id FROM sessions WHERE workspace_id = %(w)s",
        "accounts": "SELECT id, id FROM accounts WHERE workspace_id = %(w)s AND created",
    }
    found: dict[str, tuple[Any, ...]] = {}
    with psycopg.connect(database_url) as conn:
        for name, sql in lists.items():
            [total] = conn.execute(
                f"SELECT count(*) FROM ({sql}) AS l", {"w": workspace_id}
            ).fetchone()
            found[name] = conn.execute(
                f"{sql} ORDER BY 1 DESC, 2 DESC OFFSET %(skip)s LIMIT 1",
                {"w": workspace_id, "skip": max(total // 10, 1)},
            ).fetchone()
    return {
        "events": encode_cursor(*found["events"]),
        "sessions": encode_cursor(*found["sessions"]),
        "accounts": encode_id_cursor(found["accounts"][0]),
    }


def sample_ids(database_url: str, workspace_id: str, count: int) -> dict[str, list[str]]:
    """Users and visible accounts spread evenly over each list."""
    found = {}
    with psycopg.connect(database_url) as conn:
        for name, sql in (
            ("users", "SELECT user_id FROM users WHERE workspace_id = %s ORDER BY id"),
            (
                "accounts",
                "SELECT account_id FROM accounts WHERE workspace_id = %s AND created ORDER BY id",
            ),
        ):
            every = [row[0] for row in conn.execute(sql, (workspace_id,))]
            found[name] = [every[k * len(every) // count] for k in range(count)]
    return found


def reads(
    cursors: dict[str, str], sampled: dict[str, list[str]]
) -> dict[str, Callable[[int], str]]:
    """Each read as a path for sample k (a different user and account each time)."""

    def user(k: int) -> str:
        return sampled["users"][k % len(sampled["users"])]

    def account(k: int) -> str:
        return sampled["accounts"][k % len(sampled["accounts"])]

    return {
        "events of one user": lambda k: f"/api/v1/events?user_id={user(k)}",
        "events of one account": lambda k: f"/api/v1/events?account_id={account(k)}",
        "events of one account, 30 days": lambda k: (
            f"/api/v1/events?account_id={account(k)}&{WINDOW}"
        ),
        "events, first page": lambda k: "/api/v1/events",
        "events, deep page": lambda k: f"/api/v1/events?cursor={cursors['events']}",
        "events of type page": lambda k: "/api/v1/events?type=page",
        "accounts, first page": lambda k: "/api/v1/accounts",
        "accounts, deep page": lambda k: f"/api/v1/accounts?cursor={cursors['accounts']}",
        "one account": lambda k: f"/api/v1/accounts/{account(k)}",
        "users of an account": lambda k: f"/api/v1/accounts/{account(k)}/users",
        "one user": lambda k: f"/api/v1/users/{user(k)}",
        "account sessions, 30 days": lambda k: f"/api/v1/sessions?account_id={account(k)}&{WINDOW}",
        "user sessions": lambda k: f"/api/v1/sessions?user_id={user(k)}",
        "sessions, first page": lambda k: "/api/v1/sessions",
        "sessions, deep page": lambda k: f"/api/v1/sessions?cursor={cursors['sessions']}",
        "account usage, 30 days": lambda k: (
            f"/api/v1/accounts/{account(k)}/usage?from=2026-10-01&to=2026-10-30"
        ),
        "account health history": lambda k: (
            f"/api/v1/accounts/{account(k)}/health?from=2026-10-01&to=2026-11-30"
        ),
        "refused messages": lambda k: "/api/v1/rejected-messages",
        "stored messages, first page": lambda k: "/api/v1/messages",
        "stored messages of one user (a scan budget's page)": lambda k: (
            f"/api/v1/messages?user_id={user(k)}"
        ),
        "stored group calls": lambda k: "/api/v1/messages?type=group",
    }


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=Path(".pulsegate/bench-state.json"))
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3, help="health-score runs to time")
    parser.add_argument("--port", type=int, default=18_701)
    args = parser.parse_args()
    state = json.loads(args.state.read_text())
    tenant = state["tenants"][0]
    cursors = deep_cursors(state["database_url"], tenant["workspace_id"])
    sampled = sample_ids(state["database_url"], tenant["workspace_id"], args.repeat + 1)
    server = start_server(state["database_url"], args.port, args.state.parent / "reads.log")
    url = f"http://127.0.0.1:{args.port}"
    results: list[tuple[str, float, float, int]] = []
    try:
        api = {"Authorization": f"Bearer {tenant['api_key']}"}
        admin = {"Authorization": f"Bearer {state['admin_token']}"}
        with httpx.Client(base_url=url, timeout=120) as http:

            def timed(method: str, path: str, headers: dict[str, str], **kw: Any) -> float:
                began = time.perf_counter()
                response = http.request(method, path, headers=headers, **kw)
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code >= 400:
                    sys.exit(f"{method} {path}: {response.status_code} {response.text[:300]}")
                return elapsed

            for name, path_of in reads(cursors, sampled).items():
                timed("GET", path_of(0), api)  # warm the connection and the plan
                samples = [timed("GET", path_of(k), api) for k in range(1, args.repeat + 1)]
                results.append((name, *percentiles(samples), len(samples)))
            for operations in ("/admin/health", "/metrics"):
                samples = [timed("GET", operations, admin) for _ in range(args.repeat)]
                results.append((operations, *percentiles(samples), len(samples)))
            runs = [
                timed("POST", "/api/v1/health-scores/runs", api, json={"day": "2026-11-01"})
                for _ in range(args.runs)
            ]
            results.append(("health-score run", *percentiles(runs), len(runs)))
    finally:
        server.terminate()
        server.wait(30)
    print(
        f"{state['messages']:,} messages, {tenant['accounts']:,} accounts, "
        f"{tenant['users']:,} users; {datetime.now().astimezone():%Y-%m-%d %H:%M}"
    )
    print(f"{'read':34} {'p50 ms':>9} {'p99 ms':>9} {'n':>4}")
    for name, p50, p99, count in results:
        print(f"{name:34} {p50:9.1f} {p99:9.1f} {count:4}")


if __name__ == "__main__":
    main()
