"""SQL of the ingest hot path.

The writer stores hundreds of messages per transaction, so these functions bypass SQLAlchemy
(they run on the writer's own psycopg connections, `connections.py`) and send one statement
per table and flush, whatever its size. Accepted messages travel as a single
JSON document (rows as arrays) serialised by orjson, which PostgreSQL expands with
`jsonb_array_elements`: binding per-row arrays instead costs psycopg a Python-level escaping
loop per element, which profiling showed to be over half the gateway's CPU time.
Deduplication is the unique constraint, not a prior SELECT.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made
# building the rows of the hot path a visible share of a request's CPU.
@dataclass(slots=True)
class InboundRow:
    workspace_id: uuid.UUID
    source_id: uuid.UUID
    message_id: str
    type: str
    received_at: datetime
    timestamp: datetime
    message: dict[str, Any]
    warnings: list[dict[str, str]] | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    workspace_id: uuid.UUID
    source_id: uuid.UUID | None
    received_at: datetime
    endpoint: str
    message_id: str | None
    batch_index: int | None
    raw_body: bytes
    body_truncated: bool
    reasons_json: str


# Deduplication: a message is stored if its id is new to the dedup window (`message_ids`, a
# partition a week, unique within the week). The ids of a batch go in first, each at most
# once (the first of the batch wins): one that this week already holds, or that another
# writer is storing at the same moment, is left out by the week's unique index; one that the
# window's earlier days hold is left out by the probe of `[since, this_week)`, the week
# before. The log gets the messages whose ids went in. (At the turn of a week, two writers
# storing the same id within the same milliseconds could each find the other's week empty:
# Segment's SDKs retry after an answer or a timeout, seconds later.) Both bounds are
# parameters, so the planner reads only the partitions they name.
#
# Almost every id is new, so a flush is first stored as if all were (`_INSERT_NEW`): the
# week's unique index refuses the flush if one is not, and the statement that skips them
# (`_INSERT_SKIPPING`, ON CONFLICT DO NOTHING) stores it instead. ON CONFLICT checks each
# row before inserting it and confirms the insert after, one more index search and WAL
# record a message: 5-7 us of PostgreSQL's CPU a message out of 30-40 for the statement
# (bench/README.md, "As if every message were new"). A flush with a retried message costs up
# to twice as much.
_INSERT_INBOUND = """
WITH sent AS (
    SELECT DISTINCT ON ((r->>0)::uuid, r->>2)
           (r->>0)::uuid AS workspace_id, (r->>1)::uuid AS source_id, r->>2 AS message_id,
           r->>3 AS type, (r->>4)::timestamptz AS received_at,
           (r->>5)::timestamptz AS timestamp, r->6 AS message,
           NULLIF(r->7, 'null'::jsonb) AS warnings, n
    FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS sent(r, n)
    ORDER BY (r->>0)::uuid, r->>2, n
),
new AS (
    INSERT INTO message_ids (workspace_id, message_id, received_at)
    SELECT s.workspace_id, s.message_id, s.received_at FROM sent s
    WHERE NOT EXISTS (
        SELECT 1 FROM message_ids m
        WHERE m.workspace_id = s.workspace_id AND m.message_id = s.message_id
          AND m.received_at >= %(since)s AND m.received_at < %(this_week)s)
    {skip_stored}
    RETURNING workspace_id, message_id
)
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message, warnings)
SELECT s.workspace_id, s.source_id, s.message_id, s.type, s.received_at, s.timestamp,
       s.message, s.warnings
FROM sent s JOIN new USING (workspace_id, message_id)
ORDER BY s.n
"""
_INSERT_NEW = _INSERT_INBOUND.format(skip_stored="")
_INSERT_SKIPPING = _INSERT_INBOUND.format(skip_stored="ON CONFLICT DO NOTHING")

_INSERT_REJECTED = """
INSERT INTO rejected_messages
    (workspace_id, source_id, received_at, endpoint, message_id, batch_index, raw_body,
     body_truncated, reasons)
SELECT * FROM unnest(
    %(workspace_id)s::uuid[], %(source_id)s::uuid[], %(received_at)s::timestamptz[],
    %(endpoint)s::text[], %(message_id)s::text[], %(batch_index)s::int[], %(raw_body)s::bytea[],
    %(body_truncated)s::bool[], %(reasons)s::text[]::jsonb[])
"""


async def insert_inbound(
    connection: AsyncConnection[Any], rows: Sequence[InboundRow], *, window: timedelta
) -> int:
    """Insert messages, skipping those stored within the dedup `window`; return how many
    were new. On a connection in autocommit outside a transaction (the writer's), a flush
    is first tried as all new; inside a transaction a refused statement would abort it, so
    the skipping statement runs at once."""
    if not rows:
        return 0
    parameters = inbound_parameters(rows, window=window)
    if connection.autocommit and connection.info.transaction_status == TransactionStatus.IDLE:
        try:
            cursor = await connection.execute(_INSERT_NEW, parameters)
            return cursor.rowcount
        except UniqueViolation:
            pass  # an id already stored (a retry): the whole flush again, skipping it
    cursor = await connection.execute(_INSERT_SKIPPING, parameters)
    return cursor.rowcount


def inbound_parameters(rows: Sequence[InboundRow], *, window: timedelta) -> dict[str, object]:
    """The parameters of `_INSERT_NEW` and `_INSERT_SKIPPING` for a non-empty flush."""
    since = min(row.received_at for row in rows) - window
    newest = max(row.received_at for row in rows).astimezone(UTC)
    this_week = datetime.combine(
        newest.date() - timedelta(days=newest.weekday()), time(), tzinfo=UTC
    )
    document = orjson.dumps(
        [
            (
                row.workspace_id,
                row.source_id,
                row.message_id,
                row.type,
                row.received_at,
                row.timestamp,
                row.message,
                row.warnings,
            )
            for row in rows
        ]
    )
    return {"rows": document.decode(), "since": since, "this_week": this_week}


async def insert_rejected(connection: AsyncConnection[Any], rows: Sequence[RejectedRow]) -> None:
    if not rows:
        return
    await connection.execute(
        _INSERT_REJECTED,
        {
            "workspace_id": [row.workspace_id for row in rows],
            "source_id": [row.source_id for row in rows],
            "received_at": [row.received_at for row in rows],
            "endpoint": [row.endpoint for row in rows],
            "message_id": [row.message_id for row in rows],
            "batch_index": [row.batch_index for row in rows],
            "raw_body": [row.raw_body for row in rows],
            "body_truncated": [row.body_truncated for row in rows],
            "reasons": [row.reasons_json for row in rows],
        },
    )
