"""The console's own reads: the live debugger's newest messages, and the accounts list.

Each by an index that leads with the workspace: the log's and refused messages' primary keys
`(workspace_id, id, ...)` walked from the last id shown, and `accounts` by its workspace.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_NEWEST_STORED = "SELECT COALESCE(max(id), 0) FROM inbound_messages WHERE workspace_id = :w"
_NEWEST_REFUSED = "SELECT COALESCE(max(id), 0) FROM rejected_messages WHERE workspace_id = :w"

_STORED_AFTER = """
SELECT id, source_id, message_id, type, received_at,
       message->>'event' AS event, message->>'userId' AS user_id,
       message->>'anonymousId' AS anonymous_id
FROM inbound_messages
WHERE workspace_id = :w AND id > :after
ORDER BY id
LIMIT :limit
"""

_REFUSED_AFTER = """
SELECT id, source_id, message_id, endpoint, received_at, reasons,
       substring(raw_body FROM 1 FOR 2000) AS body
FROM rejected_messages
WHERE workspace_id = :w AND id > :after
ORDER BY id
LIMIT :limit
"""


async def newest_ids(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[int, int]:
    params = {"w": workspace_id}
    stored = await session.scalar(text(_NEWEST_STORED), params)
    refused = await session.scalar(text(_NEWEST_REFUSED), params)
    return int(stored or 0), int(refused or 0)


async def stored_after(
    session: AsyncSession, workspace_id: uuid.UUID, after: int, limit: int
) -> list[dict[str, Any]]:
    result = await session.execute(
        text(_STORED_AFTER), {"w": workspace_id, "after": after, "limit": limit}
    )
    return [dict(row) for row in result.mappings()]


async def refused_after(
    session: AsyncSession, workspace_id: uuid.UUID, after: int, limit: int
) -> list[dict[str, Any]]:
    result = await session.execute(
        text(_REFUSED_AFTER), {"w": workspace_id, "after": after, "limit": limit}
    )
    return [
        {**row, "body": bytes(row["body"]).decode("utf-8", "replace")} for row in result.mappings()
    ]


_ACCOUNTS = """
SELECT a.account_id, a.fields->'name'->>'v' AS name, a.last_seen,
       (SELECT count(*) FROM users u
        WHERE u.workspace_id = a.workspace_id AND u.account_id = a.account_id) AS users,
       h.score, h.band,
       (SELECT m.value FROM metric_values m
        WHERE m.workspace_id = a.workspace_id AND m.object = 'account'
          AND m.entity_id = a.account_id AND m.key = :metric
        ORDER BY m.day DESC LIMIT 1) AS metric
FROM accounts a
LEFT JOIN LATERAL (
    SELECT score, band FROM health_scores s
    WHERE s.workspace_id = a.workspace_id AND s.account_id = a.account_id
    ORDER BY day DESC LIMIT 1
) h ON true
WHERE a.workspace_id = :w AND a.created {search}
ORDER BY {order}
LIMIT :limit
"""
SORTS = {
    "name": "lower(COALESCE(a.fields->'name'->>'v', a.account_id)), a.account_id",
    "last_seen": "a.last_seen DESC, a.account_id",
    "health": "h.score ASC NULLS LAST, a.account_id",
}


async def search_accounts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    query: str,
    sort: str,
    metric: str,
    limit: int,
) -> list[dict[str, Any]]:
    """Matching the id or the name (a case-insensitive substring), sorted, with the latest
    value of `metric` (by the metric's primary key, newest day first); the first `limit`."""
    search = (
        "AND (a.account_id ILIKE :pattern OR a.fields->'name'->>'v' ILIKE :pattern)"
        if query
        else ""
    )
    statement = _ACCOUNTS.format(search=search, order=SORTS[sort])
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await session.execute(
        text(statement),
        {"w": workspace_id, "limit": limit, "pattern": f"%{escaped}%", "metric": metric},
    )
    return [dict(row) for row in result.mappings()]


_USERS = """
SELECT user_id, fields->'email'->>'v' AS email, account_id, last_seen
FROM users
WHERE workspace_id = :w {search}
ORDER BY last_seen DESC, user_id
LIMIT :limit
"""


async def search_users(
    session: AsyncSession, workspace_id: uuid.UUID, *, query: str, limit: int
) -> list[dict[str, Any]]:
    """Matching the id or the email (a case-insensitive substring), the last seen first."""
    search = "AND (user_id ILIKE :pattern OR fields->'email'->>'v' ILIKE :pattern)" if query else ""
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = await session.execute(
        text(_USERS.format(search=search)),
        {"w": workspace_id, "limit": limit, "pattern": f"%{escaped}%"},
    )
    return [dict(row) for row in result.mappings()]


async def identities_of(session: AsyncSession, workspace_id: uuid.UUID, user_id: str) -> list[str]:
    """The anonymous and former ids tied to the user (`ix_identities_user`)."""
    result = await session.execute(
        text(
            "SELECT alias FROM identities WHERE workspace_id = :w AND user_id = :u "
            "AND alias <> :u ORDER BY alias"
        ),
        {"w": workspace_id, "u": user_id},
    )
    return [row.alias for row in result]
