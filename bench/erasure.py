"""Time erasures on a database filled by `bench/fill.py` (destructive: the users are erased).

    python bench/erasure.py --state .pulsegate/bench-2m.json [--users 5]

Starts `pulsegate serve` on the filled database and, for users spread evenly over the first
workspace, requests each erasure through `POST /api/v1/erasures` and waits for it to finish;
prints each one's wall time (request to `succeeded`) and its counts per store. The hot log has
no index by user (ingest's sake), so an erasure scans the workspace's log once, a partition at
a time: its time grows with the workspace's hot log, not with the database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fill import start_server
from reads import sample_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, default=Path(".pulsegate/bench-state.json"))
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--port", type=int, default=18_702)
    args = parser.parse_args()
    state = json.loads(args.state.read_text())
    tenant = state["tenants"][0]
    users = sample_ids(state["database_url"], tenant["workspace_id"], args.users)["users"]
    server = start_server(state["database_url"], args.port, args.state.parent / "erasure.log")
    api = {"Authorization": f"Bearer {tenant['api_key']}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as http:
            for user in users:
                started = time.perf_counter()
                created = http.post("/api/v1/erasures", json={"user_id": user}, headers=api)
                created.raise_for_status()
                erasure_id = created.json()["id"]
                while True:
                    found = http.get(f"/api/v1/erasures/{erasure_id}", headers=api).json()
                    if found["status"] in ("succeeded", "failed"):
                        break
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                removed = {k: v for k, v in found["counts"].items() if v}
                print(f"{found['status']} in {elapsed:.2f} s: {removed}")
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
