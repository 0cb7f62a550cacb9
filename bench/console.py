"""Time the console on a database filled by `bench/fill.py`, and its live debugger's delay.

    python bench/console.py --state .pulsegate/bench-2m.json [--repeat 20] [--rate 2000]

Starts `pulsegate serve` on the filled database and signs in to the console with the first
workspace's API key, then:

- times the accounts list (by name, by health, a search) and the account page of accounts
  spread over the workspace, `--repeat` times each, through HTTP: p50 and p99 in ms;
- holds ingest at `--rate` messages a second (batches of 100) for `--seconds`, with a marker
  message every half second, while the debugger's stream (filtered to the markers, as a user
  watching one event would) is open; prints the delay from each marker's acknowledgement to
  its arrival on the stream.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fill import start_server
from reads import percentiles, sample_ids


def time_pages(http: httpx.Client, accounts: list[str], repeat: int) -> None:
    pages = {
        "accounts list, by name": lambda k: "/console/accounts",
        "accounts list, by health": lambda k: "/console/accounts?sort=health",
        "accounts list, a search": lambda k: f"/console/accounts?q={accounts[k][-3:]}",
        "account page": lambda k: f"/console/accounts/{accounts[k]}",
    }
    for name, path in pages.items():
        samples = []
        for k in range(repeat):
            started = time.perf_counter()
            response = http.get(path(k % len(accounts)))
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path(k), response.status_code)
        p50, p99 = percentiles(samples)
        print(f"{name:<28} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")


def debugger_delay(
    url: str, cookies: httpx.Cookies, write_key: str, rate: int, seconds: float
) -> None:
    acknowledged: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def watch() -> None:
        try:
            follow()
        except httpx.HTTPError:
            if not stop.is_set():  # the server stopping at the end closes it
                raise

    def follow() -> None:
        path = "/console/debugger/stream?event=Bench+Marker"
        with (
            httpx.Client(base_url=url, cookies=cookies, timeout=None) as http,
            http.stream("GET", path) as stream,
        ):
            for line in stream.iter_lines():
                if line.startswith("data: {"):
                    item = json.loads(line.removeprefix("data: "))
                    seen.setdefault(item["user_id"], time.perf_counter())
                if stop.is_set():
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(1.0)
    auth = (write_key, "")
    with httpx.Client(base_url=url, auth=auth, timeout=30) as http:
        started = time.perf_counter()
        sent = 0
        next_marker = started
        while time.perf_counter() - started < seconds:
            batch = [
                {"type": "track", "userId": f"load-{sent + n}", "event": "Bench Load"}
                for n in range(100)
            ]
            marker = None
            if time.perf_counter() >= next_marker:
                marker = f"marker-{uuid.uuid4().hex[:8]}"
                batch[-1] = {"type": "track", "userId": marker, "event": "Bench Marker"}
                next_marker += 0.5
            response = http.post("/v1/batch", json={"batch": batch})
            assert response.status_code == 200, response.text
            if marker:
                acknowledged[marker] = time.perf_counter()
            sent += 100
            pause = started + sent / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        elapsed = time.perf_counter() - started
    time.sleep(2.0)
    stop.set()
    delays = [(seen[m] - t) * 1000 for m, t in acknowledged.items() if m in seen]
    missing = len(acknowledged) - len(delays)
    print(
        f"debugger at {sent / elapsed:,.0f} messages/s: {len(delays)} markers, "
        f"delay p50 {statistics.median(delays):.0f} ms, max {max(delays):.0f} ms"
        + (f", {missing} not seen" if missing else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=Path(".pulsegate/bench-state.json"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--port", type=int, default=18_703)
    args = parser.parse_args()
    state = json.loads(args.state.read_text())
    tenant = state["tenants"][0]
    accounts = sample_ids(state["database_url"], tenant["workspace_id"], args.repeat)["accounts"]
    server = start_server(state["database_url"], args.port, args.state.parent / "console.log")
    url = f"http://127.0.0.1:{args.port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            signed = http.post("/console/sign-in", data={"key": tenant["api_key"]})
            assert signed.status_code == 303, signed.text
            time_pages(http, accounts, args.repeat)
            debugger_delay(url, http.cookies, tenant["write_key"], args.rate, args.seconds)
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
