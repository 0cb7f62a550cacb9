"""SQL of the ingest hot path.

The writer stores hundreds of messages per transaction, so these functions bypass the ORM and
send one statement per table and flush, whatever its size. Accepted messages travel as a single
JSON document (rows as arrays) serialised by orjson, which PostgreSQL expands with
`jsonb_array_elements`: binding per-row arrays instead costs psycopg a Python-level escaping
loop per element, which profiling showed to be over half the gateway's CPU time.
Deduplication is the unique constraint, not a prior SELECT.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
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


_INSERT_INBOUND = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message, warnings)
SELECT (r->>0)::uuid, (r->>1)::uuid, r->>2, r->>3, (r->>4)::timestamptz, (r->>5)::timestamptz,
       r->6, NULLIF(r->7, 'null'::jsonb)
FROM jsonb_array_elements(%(rows)s::jsonb) AS r
ON CONFLICT (workspace_id, message_id) DO NOTHING
"""

_INSERT_REJECTED = """
INSERT INTO rejected_messages
    (workspace_id, source_id, received_at, endpoint, message_id, batch_index, raw_body,
     body_truncated, reasons)
SELECT * FROM unnest(
    %(workspace_id)s::uuid[], %(source_id)s::uuid[], %(received_at)s::timestamptz[],
    %(endpoint)s::text[], %(message_id)s::text[], %(batch_index)s::int[], %(raw_body)s::bytea[],
    %(body_truncated)s::bool[], %(reasons)s::text[]::jsonb[])
"""


async def insert_inbound(connection: AsyncConnection, rows: Sequence[InboundRow]) -> int:
    """Insert messages, skipping those already stored; return how many were new."""
    if not rows:
        return 0
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
    result = await connection.exec_driver_sql(_INSERT_INBOUND, {"rows": document.decode()})
    return result.rowcount


async def insert_rejected(connection: AsyncConnection, rows: Sequence[RejectedRow]) -> None:
    if not rows:
        return
    await connection.exec_driver_sql(
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
