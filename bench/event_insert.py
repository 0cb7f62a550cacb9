"""What each part of the projector's event insert costs: every index, the attribution, the
session queue.

    PULSEGATE_DATABASE_URL=postgresql://... python bench/event_insert.py [--events 20000]
        [--rounds 4]

Run it on a database that `bench/statements.py` (or `bench/fill.py`) has filled: the figures
are those of an insert into tables of that size. It copies the workspace's latest `--events`
track, page and screen messages as new log messages (new random message ids, timestamps a
millisecond apart; kept in `bench_event_insert_ids` for the next run), then, in rounds, runs
the projector's own statement (`projection.repository._INSERT_EVENTS`) over them in batches
of the projector's size, once per variant, each in a transaction that is rolled back:

- `as is`: the statement as the projector runs it (as if every event were new);
- `with ON CONFLICT`: the statement the projector runs when the unique constraint refuses
  an event of a batch (`_INSERT_EVENTS_SKIPPING`): its "saved" is negative, what checking
  for stored events costs;
- `without <index>`: the same with that index dropped inside the transaction;
- `without the session queue`: no `session_dirty` upsert;
- `without attribution`: the events keep their own user and account (no lookups).

The order of the variants is shuffled every round and the tables are vacuumed between rounds.
Prints each variant's time an event in every round, its median, and its difference from `as
is`: what that part costs an event. Times are the client's wall clock around the statements
on an otherwise idle server: run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import psycopg

from pulsegate.db.log_batch import batch_parameters
from pulsegate.projection.attribution import resolve_sql
from pulsegate.projection.repository import _INSERT_EVENTS, _INSERT_EVENTS_SKIPPING
from pulsegate.projection.service import BATCH_SIZE

COPY = """
CREATE TABLE bench_event_insert_ids AS
WITH latest AS (  -- a CTE with a volatile function is computed once: one id a message
    SELECT *, gen_random_uuid()::text AS new_message_id FROM inbound_messages
    WHERE workspace_id = %(w)s AND type IN ('track', 'page', 'screen')
    ORDER BY id DESC LIMIT %(events)s
),
copied AS (
    INSERT INTO inbound_messages
        (workspace_id, source_id, message_id, type, received_at, timestamp, message)
    SELECT l.workspace_id, l.source_id, l.new_message_id, l.type, l.received_at,
           l.timestamp + make_interval(secs => row_number() OVER (ORDER BY l.id) / 1000.0),
           jsonb_set(l.message, '{messageId}', to_jsonb(l.new_message_id))
    FROM latest l
    RETURNING id
)
SELECT id FROM copied
"""


def variants(connection: psycopg.Connection) -> dict[str, tuple[str, list[str]]]:
    """Name: (statement, DDL run first in the transaction)."""
    attribution = resolve_sql(
        table="sent",
        own_user="sent.user_id",
        own_key="sent.anonymous_id",
        own_account="sent.account_id",
    )
    found = {
        "as is": (_INSERT_EVENTS, []),
        "with ON CONFLICT": (_INSERT_EVENTS_SKIPPING, []),
        "without the session queue": (
            _INSERT_EVENTS.split("inserted AS (")[0].rstrip().rstrip(",")
            + "\n"
            + _INSERT_EVENTS.split("inserted AS (")[1].split("RETURNING")[0],
            [],
        ),
        "without attribution": (
            _INSERT_EVENTS.replace(
                attribution,
                "\n    CROSS JOIN LATERAL (SELECT sent.user_id, sent.account_id) AS resolved",
            ),
            [],
        ),
    }
    indexes = connection.execute(
        """
        SELECT i.relname, c.conname
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid
        WHERE x.indrelid = 'events'::regclass ORDER BY i.relname
        """
    ).fetchall()
    for index, constraint in indexes:
        ddl = (
            f"ALTER TABLE events DROP CONSTRAINT {constraint}"
            if constraint
            else f"DROP INDEX {index}"
        )
        found[f"without {index}"] = (_INSERT_EVENTS, [ddl])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    url = os.environ["PULSEGATE_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as connection:
        workspace = connection.execute(
            "SELECT workspace_id FROM inbound_messages ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if workspace is None:
            sys.exit("the database holds no messages: fill it first (bench/statements.py)")
        if connection.execute("SELECT to_regclass('bench_event_insert_ids')").fetchone() == (None,):
            connection.execute(COPY, {"w": workspace[0], "events": args.events})
        ids = [row[0] for row in connection.execute("SELECT id FROM bench_event_insert_ids")]
        ids.sort()
        events = connection.execute("SELECT count(*) FROM events").fetchone()
        print(f"{len(ids):,} events inserted into a table of {events[0]:,}")
        found = variants(connection)
        times: dict[str, list[float]] = {name: [] for name in found}
        for _ in range(args.rounds):
            order = list(found)
            random.shuffle(order)
            for name in order:
                statement, ddl = found[name]
                with connection.transaction(force_rollback=True):
                    for command in ddl:
                        connection.execute(command)
                    started = time.perf_counter()
                    for first in range(0, len(ids), BATCH_SIZE):
                        batch = ids[first : first + BATCH_SIZE]
                        connection.execute(
                            statement, batch_parameters(workspace[0], batch, whole=True)
                        )
                    times[name].append((time.perf_counter() - started) * 1e6 / len(ids))
            connection.execute("VACUUM events, session_dirty")
        base = statistics.median(times["as is"])
        print(f"\n{'us an event':>12}  {'median':>6}  {'saved':>6}  variant")
        for name, measured in times.items():
            median = statistics.median(measured)
            rounds = " ".join(f"{value:5.1f}" for value in measured)
            print(f"{rounds:>12}  {median:6.1f}  {base - median:6.1f}  {name}")


if __name__ == "__main__":
    main()
