"""Bytes per stored message: what the log and its events cost on disk, indexes included.

    PULSEGATE_DATABASE_URL=... python bench/storage.py

Reads a filled database (bench/fill.py) and prints, per table that grows with every message,
its size with indexes and TOAST, and that size divided by the messages in the log.
"""

from __future__ import annotations

import os

import psycopg

TABLES = ("inbound_messages", "events", "sessions", "deliveries", "rejected_messages")


def main() -> None:
    url = os.environ["PULSEGATE_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        [[messages]] = conn.execute("SELECT count(*) FROM inbound_messages").fetchall()
        print(f"{messages:,} messages in the log")
        total = 0
        for table in TABLES:
            # A partitioned table has no storage of its own: its partitions' sizes, summed.
            [[size, rows]] = conn.execute(
                f"SELECT COALESCE((SELECT sum(pg_total_relation_size(relid)) "
                f"FROM pg_partition_tree('{table}')), pg_total_relation_size('{table}')), "
                f"(SELECT count(*) FROM {table})"
            ).fetchall()
            total += size if table in ("inbound_messages", "events") else 0
            per = size / messages if messages else 0
            print(
                f"{table:<18} {size / 2**20:>10,.1f} MiB  {rows:>12,} rows  {per:>8,.0f} B/message"
            )
        print(f"log plus events: {total / messages:,.0f} bytes per stored message")


if __name__ == "__main__":
    main()
