"""Fill a database the way production would: analytics.js-shaped traffic through `/v1/batch`.

    PULSEGATE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/pulsegate_bench \\
        python bench/fill.py --messages 2000000 [--workspaces 1] [--seed 7]

Starts `pulsegate serve` on that database (created when missing), creates the workspaces
through the admin API, and sends seeded, repeatable traffic through the real writer; the
server's own projector applies it. Each workspace has `--accounts` accounts (default 1,970)
and `--users` users (default 40,000), both divided among the workspaces, and the messages
span `--days` days (default 60) in time order, as visits: a user's burst of 4 to 16 messages
about two minutes apart, so a visit is one session:

- 75% track calls with a module and one of its features, 10% page calls, 8% identify calls
  (standard and custom traits, tying the user's anonymousId), 5% group calls (standard and
  custom traits), 2% alias calls (a user's former id);
- a fifth of visits are anonymous (anonymousId only), stitched by later identifies;
- every message carries analytics.js's `context` (library, page, userAgent, ip, locale).

With `--rate N` it holds ingest at N messages/s (for `--messages / N` seconds). It samples the
projection lag of `/admin/health` every second while sending, and prints the ingest rate,
the lag's median and maximum, and how long projection took to catch up after the last message;
runs the session sweep, and writes what `bench/reads.py` needs (URL, keys, sample ids) to
`--state` (default `.pulsegate/bench-state.json`). The same seed sends the same messages.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from sqlalchemy.engine import make_url

from pulsegate.db.embedded import ensure_database

ADMIN_TOKEN = "bench-admin-token"
MODULES = {
    "Reports": ["Report Built", "Report Exported", "Report Shared", "Filter Applied"],
    "Dashboards": ["Dashboard Viewed", "Widget Added", "Widget Moved"],
    "Billing": ["Invoice Viewed", "Plan Changed", "Card Updated"],
    "Settings": ["Profile Updated", "Team Invited", "Role Changed"],
    "Integrations": ["Integration Connected", "Sync Started", "Webhook Created"],
    "Search": ["Search Performed", "Result Opened"],
    "Onboarding": ["Checklist Step Done", "Tour Completed"],
    "Admin": ["Audit Log Viewed", "SSO Configured"],
}
PAGES = ["/", "/reports", "/dashboards", "/billing", "/settings", "/integrations", "/help"]
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


@dataclasses.dataclass(frozen=True, slots=True)
class Tenant:
    workspace_id: str
    write_key: str
    api_key: str
    accounts: int
    users: int


@dataclasses.dataclass(slots=True)
class Visit:
    user: int
    anonymous: bool
    remaining: int


class Traffic:
    """Seeded messages of one workspace, as visits: a user's burst of 4 to 16 messages about
    two minutes apart. User u belongs to account u % accounts."""

    def __init__(
        self, tenant: Tenant, *, seed: int, start: datetime, span: timedelta, messages: int
    ) -> None:
        self.tenant = tenant
        self.random = random.Random(f"{seed}:{tenant.workspace_id}")
        self.start, self.span = start, span
        # Enough visits at once that each sees a message about every two minutes.
        seconds_per_message = span.total_seconds() / messages
        self.visits: list[Visit | None] = [None] * max(1, int(120 / seconds_per_message))

    def _visit(self) -> Visit:
        rng = self.random
        slot = rng.randrange(len(self.visits))
        visit = self.visits[slot]
        if visit is None or visit.remaining == 0:
            visit = Visit(rng.randrange(self.tenant.users), rng.random() < 0.2, rng.randint(4, 16))
            self.visits[slot] = visit
        visit.remaining -= 1
        return visit

    def message(self, n: int, of: int) -> dict[str, Any]:
        rng, tenant = self.random, self.tenant
        visit = self._visit()
        user = visit.user
        account = user % tenant.accounts
        at = self.start + self.span * (n / of)
        base: dict[str, Any] = {
            "messageId": f"m-{n}-{rng.getrandbits(48):012x}",
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "anonymousId": f"anon-{user}",
            "context": {
                "library": {"name": "analytics.js", "version": "5.2.0"},
                "page": {
                    "path": (path := rng.choice(PAGES)),
                    "url": f"https://app.example.com{path}",
                    "title": "Example App",
                    "referrer": "https://www.example.com/",
                },
                "userAgent": AGENT,
                "ip": f"203.0.{user % 250}.{account % 250}",
                "locale": "en-US",
            },
        }
        roll = rng.random()
        if roll < 0.08:
            return {
                **base,
                "type": "identify",
                "userId": f"user-{user}",
                "traits": {
                    "email": f"user{user}@acct{account}.example",
                    "firstName": f"First{user}",
                    "lastName": f"Last{user}",
                    "title": rng.choice(["Admin", "Analyst", "Owner"]),
                    "seat": rng.choice(["full", "viewer"]),
                },
            }
        if roll < 0.13:
            return {
                **base,
                "type": "group",
                "userId": f"user-{user}",
                "groupId": f"acct-{account}",
                "traits": {
                    "name": f"Account {account}",
                    "createdAt": "2024-01-15T00:00:00Z",
                    "industry": rng.choice(["Software", "Retail", "Finance"]),
                    "employees": 10 + account % 500,
                    "plan": rng.choice(["starter", "pro"]),
                    "mrr": 100 + account % 900,
                },
            }
        if roll < 0.15:
            return {
                **base,
                "type": "alias",
                "userId": f"user-{user}",
                "previousId": f"legacy-{user}",
            }
        ids = {} if visit.anonymous else {"userId": f"user-{user}"}
        if roll < 0.25:
            return {**base, **ids, "type": "page", "name": "App", "properties": {"path": path}}
        module = rng.choice(list(MODULES))
        return {
            **base,
            **ids,
            "type": "track",
            "event": rng.choice(MODULES[module]),
            "properties": {"module": module, "value": rng.randrange(100)},
        }


def start_server(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "PULSEGATE_SCHEDULER_ENABLED": "false",
        # A benchmark measures the gateway at full speed, not the per-source rate limit.
        "PULSEGATE_SOURCE_RATE_LIMIT": "0",
        "PULSEGATE_LOG_LEVEL": "WARNING",
        "PULSEGATE_DATA_DIR": str(log.parent),
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "pulsegate", "serve", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"pulsegate serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    sys.exit("pulsegate serve did not become ready")


def create_tenants(url: str, count: int, *, accounts: int, users: int) -> list[Tenant]:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tenants = []
    with httpx.Client(base_url=url, headers=admin, timeout=30) as http:
        for number in range(count):
            name = f"bench-{number}-{time.time_ns()}"
            workspace = http.post("/admin/workspaces", json={"name": name}).json()
            path = f"/admin/workspaces/{workspace['id']}"
            source = http.post(f"{path}/sources", json={"name": "web"}).json()
            key = http.post(f"{path}/api-keys", json={"name": "bench"}).json()
            tenants.append(
                Tenant(
                    workspace["id"],
                    source["write_key"],
                    key["api_key"],
                    max(2, accounts // count),
                    max(20, users // count),
                )
            )
    return tenants


async def send_all(url: str, tenants: list[Tenant], args: argparse.Namespace) -> float:
    """Batches of 100, `--connections` at a time; workspaces take turns batch by batch."""
    start = datetime(2026, 9, 1, tzinfo=UTC)
    traffic = [
        Traffic(
            t,
            seed=args.seed,
            start=start,
            span=timedelta(days=args.days),
            messages=args.messages // len(tenants),
        )
        for t in tenants
    ]
    batches = args.messages // 100
    queue: asyncio.Queue[tuple[Tenant, bytes] | None] = asyncio.Queue(maxsize=args.connections * 2)

    async def produce() -> None:
        for number in range(batches):
            if args.rate:  # hold the pace: batch n leaves at n * 100 / rate seconds
                await asyncio.sleep(max(0.0, began + number * 100 / args.rate - time.monotonic()))
            source = traffic[number % len(traffic)]
            body = [source.message(number * 100 + n, args.messages) for n in range(100)]
            await queue.put((source.tenant, orjson.dumps({"batch": body})))
        for _ in range(args.connections):
            await queue.put(None)

    async def consume(http: httpx.AsyncClient) -> None:
        while (item := await queue.get()) is not None:
            tenant, body = item
            for _attempt in range(10):
                response = await http.post(
                    "/v1/batch",
                    content=body,
                    auth=(tenant.write_key, ""),
                    headers={"Content-Type": "application/json"},
                )
                if response.status_code == 200:
                    break
                await asyncio.sleep(0.5)  # 503 under back-pressure: retry, as SDKs do
            else:
                sys.exit(f"a batch kept failing: {response.status_code} {response.text}")

    async def sample_lag(http: httpx.AsyncClient) -> None:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        while True:
            await asyncio.sleep(1)
            health = (await http.get("/admin/health", headers=admin)).json()
            lags.append(health["inbound"]["projector_lag_seconds"])

    lags: list[float] = []
    began = time.monotonic()
    limits = httpx.Limits(max_connections=args.connections + 1)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        reported = time.monotonic()
        consumers = [asyncio.create_task(consume(http)) for _ in range(args.connections)]
        producer = asyncio.create_task(produce())
        sampler = asyncio.create_task(sample_lag(http))
        while not all(task.done() for task in consumers):
            await asyncio.sleep(1)
            if time.monotonic() - reported > 60:
                reported = time.monotonic()
                recent = max(lags[-60:], default=0.0)
                print(
                    f"  ... {time.monotonic() - began:.0f} s, projection lag up to "
                    f"{recent:.1f} s in the last minute",
                    flush=True,
                )
        sampler.cancel()
        await producer
        for task in consumers:
            task.result()
    if lags:
        ordered = sorted(lags)
        print(
            f"projection lag while sending, sampled each second: "
            f"p50 {ordered[len(ordered) // 2]:.1f} s, max {ordered[-1]:.1f} s"
        )
    return time.monotonic() - began


def wait_projected(url: str) -> float:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    began = time.monotonic()
    while True:
        inbound = httpx.get(f"{url}/admin/health", headers=admin, timeout=60).json()["inbound"]
        if inbound["backlog"] == 0:
            return time.monotonic() - began
        time.sleep(0.5)


def run_job(url: str, name: str) -> float:
    """Start a job through the admin API and wait for its run to end; return its seconds."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    began = time.monotonic()
    run = httpx.post(f"{url}/admin/jobs/{name}/runs", headers=admin, timeout=60).json()
    while run["status"] == "running":
        time.sleep(0.5)
        run = httpx.get(f"{url}/admin/jobs/{name}/runs/{run['id']}", headers=admin).json()
    if run["status"] != "succeeded":
        sys.exit(f"{name} ended {run['status']}: {run.get('error')}")
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--workspaces", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=1970)
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rate", type=int, default=0, help="messages/s to hold (default: as fast as it takes)"
    )
    parser.add_argument("--port", type=int, default=18_700)
    parser.add_argument("--state", type=Path, default=Path(".pulsegate/bench-state.json"))
    args = parser.parse_args()
    database_url = os.environ.get("PULSEGATE_DATABASE_URL")
    if not database_url:
        sys.exit("set PULSEGATE_DATABASE_URL (a server database; created when missing)")
    parsed = make_url(database_url)
    if not parsed.database:
        sys.exit("PULSEGATE_DATABASE_URL must name a database")
    ensure_database(parsed.set(database="postgres").render_as_string(False), parsed.database)

    url = f"http://127.0.0.1:{args.port}"
    server = start_server(database_url, args.port, args.state.parent / "bench-serve.log")
    try:
        tenants = create_tenants(url, args.workspaces, accounts=args.accounts, users=args.users)
        print(f"sending {args.messages:,} messages to {len(tenants)} workspace(s)", flush=True)
        sending = asyncio.run(send_all(url, tenants, args))
        catching_up = wait_projected(url)
        print(
            f"ingest: {args.messages / sending:,.0f} messages/s ({sending:.1f} s); "
            f"projection caught up {catching_up:.1f} s after the last message"
        )
        print(f"session sweep: {run_job(url, 'session_sweep'):.1f} s")
        # Autovacuum would have analyzed the new tables by the time anyone reads them.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    finally:
        server.terminate()
        server.wait(30)
    args.state.parent.mkdir(parents=True, exist_ok=True)
    args.state.write_text(
        json.dumps(
            {
                "database_url": database_url,
                "admin_token": ADMIN_TOKEN,
                "messages": args.messages,
                "tenants": [dataclasses.asdict(tenant) for tenant in tenants],
            },
            indent=2,
        )
    )
    print(f"state written to {args.state}")


if __name__ == "__main__":
    main()
