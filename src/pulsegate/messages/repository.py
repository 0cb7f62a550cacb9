"""Reading the hot log: one workspace's stored messages, newest first, with what the projector
made of each.

The log has one index, its primary key `(workspace_id, id, received_at)`: every other index
would cost each ingested message (bench/README.md). So a filtered read walks the workspace's
messages backwards by `id`, at most `SCAN_BUDGET` of them per page, and filters those; a page
that found fewer matches than asked for within its budget still returns a cursor, from where
its scan stopped. A read costs at most one budget whatever the log's size, and a client pages
on until `next_cursor` is null.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

SCAN_BUDGET = 10_000


@dataclass(frozen=True)
class MessageFilter:
    type: str | None = None
    source_id: uuid.UUID | None = None
    user_id: str | None = None
    anonymous_id: str | None = None
    account_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class ScannedPage:
    rows: list[dict[str, Any]]
    scanned: int
    lowest_scanned_id: int | None


# The scan's and the filter's conditions are put in only when given (a condition like
# `(:x IS NULL OR …)` would, once PostgreSQL caches a generic plan, keep it from using the
# primary key's order and from pruning partitions by time).
_SCAN_WHERE = {
    "before_id": "id < :before_id",
    "since": "received_at >= :since",
    "until": "received_at < :until",
}
_MATCH_WHERE = {
    "type": "s.type = :type",
    "source_id": "s.source_id = :source_id",
    "user_id": "s.message->>'userId' = :user_id",
    "anonymous_id": "s.message->>'anonymousId' = :anonymous_id",
    "account_id": "(s.message->>'groupId' = :account_id "
    "OR s.message #>> '{context,groupId}' = :account_id)",
}
_LIST = """
WITH scanned AS (
    SELECT id, source_id, message_id, type, received_at, timestamp, message, warnings
    FROM inbound_messages
    WHERE workspace_id = :workspace_id {scan}
    ORDER BY id DESC
    LIMIT :budget
), bounds AS (
    SELECT count(*) AS scanned, min(id) AS lowest FROM scanned
)
SELECT b.scanned, b.lowest, m.*
FROM bounds b
LEFT JOIN LATERAL (
    SELECT * FROM scanned s WHERE true {match} ORDER BY s.id DESC LIMIT :limit
) m ON true
ORDER BY m.id DESC
"""


async def list_messages(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    where: MessageFilter,
    before_id: int | None,
    limit: int,
    budget: int = SCAN_BUDGET,
) -> ScannedPage:
    values: dict[str, Any] = {
        "before_id": before_id,
        "since": where.since,
        "until": where.until,
        "type": where.type,
        "source_id": where.source_id,
        "user_id": where.user_id,
        "anonymous_id": where.anonymous_id,
        "account_id": where.account_id,
    }
    given = {name: value for name, value in values.items() if value is not None}
    statement = _LIST.format(
        scan="".join(f" AND {_SCAN_WHERE[name]}" for name in given if name in _SCAN_WHERE),
        match="".join(f" AND {_MATCH_WHERE[name]}" for name in given if name in _MATCH_WHERE),
    )
    result = await session.execute(
        text(statement),
        {**given, "workspace_id": workspace_id, "budget": budget, "limit": limit},
    )
    found = [dict(row) for row in result.mappings()]
    scanned, lowest = (found[0]["scanned"], found[0]["lowest"]) if found else (0, None)
    rows = [row for row in found if row["id"] is not None]
    return ScannedPage(rows=rows, scanned=scanned, lowest_scanned_id=lowest)


async def get_message(
    session: AsyncSession, workspace_id: uuid.UUID, log_id: int
) -> dict[str, Any] | None:
    """By the primary key's leading columns, in each day's partition."""
    result = await session.execute(
        text(
            "SELECT id, source_id, message_id, type, received_at, timestamp, message, warnings "
            "FROM inbound_messages WHERE workspace_id = :w AND id = :id"
        ),
        {"w": workspace_id, "id": log_id},
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def projection_of(
    session: AsyncSession, workspace_id: uuid.UUID, rows: list[dict[str, Any]]
) -> tuple[int | None, dict[int, list[dict[str, str]]], dict[int, str], dict[str, dict[str, Any]]]:
    """For the page's messages: the projector's position, their notes and failures (by log
    id), and the events they became (by messageId). Each by its primary or unique key."""
    ids = [row["id"] for row in rows]
    params = {"workspace_id": workspace_id, "ids": ids}
    position = await session.scalar(
        text("SELECT last_id FROM projector_positions WHERE workspace_id = :workspace_id"),
        {"workspace_id": workspace_id},
    )
    notes: dict[int, list[dict[str, str]]] = {}
    for note in await session.execute(
        text(
            "SELECT inbound_message_id, code, message FROM projection_notes "
            "WHERE workspace_id = :workspace_id AND inbound_message_id = ANY(:ids) ORDER BY code"
        ),
        params,
    ):
        notes.setdefault(note.inbound_message_id, []).append(
            {"code": note.code, "message": note.message}
        )
    failures = {
        failure.inbound_message_id: failure.error
        for failure in await session.execute(
            text(
                "SELECT inbound_message_id, error FROM projection_failures "
                "WHERE workspace_id = :workspace_id AND inbound_message_id = ANY(:ids)"
            ),
            params,
        )
    }
    keyed = [
        (row["message_id"], row["timestamp"])
        for row in rows
        if row["type"] in ("track", "page", "screen")
    ]
    events: dict[str, dict[str, Any]] = {}
    if keyed:
        found = await session.execute(
            text(
                "SELECT e.message_id, e.name, e.module, e.category, e.session_key, "
                "e.resolved_user_id, e.resolved_account_id FROM events e "
                "JOIN unnest(CAST(:message_ids AS text[]), CAST(:timestamps AS timestamptz[])) "
                "AS k(message_id, timestamp) "
                "ON e.message_id = k.message_id AND e.timestamp = k.timestamp "
                "WHERE e.workspace_id = :workspace_id"
            ),
            {
                "workspace_id": workspace_id,
                "message_ids": [key[0] for key in keyed],
                "timestamps": [key[1] for key in keyed],
            },
        )
        events = {row["message_id"]: dict(row) for row in found.mappings()}
    return position, notes, failures, events
