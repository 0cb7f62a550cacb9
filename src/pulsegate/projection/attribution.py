"""Attribution at write time: which user and account each event and session counts for.

The rules, the same for an event and a session:
- its user is the identity tie of its own userId (a userId that an alias has since made
  another user), else its own userId, else the tie of its anonymousId (a session's key);
- its account is its own groupId, else its user's current account (`users.account_id`).

They are stored in `resolved_user_id` and `resolved_account_id`, so that every read by user or
account is an index range. The projector keeps them current within each batch:
1. accounts, users and identities are applied first, recording which ties and which users'
   accounts the batch changed;
2. the batch's events are then resolved as they are inserted;
3. `restitch` recomputes the rows written earlier that a changed tie or account can reach, and
   writes only those whose attribution differs.

Step 3 finds its candidates through indexes: a tie of alias A reaches rows whose session key
is A (their anonymousId, or their userId when they have no anonymousId) and rows now resolved
to A or to A's previous user (those whose own userId is A); an account change of user U reaches
rows resolved to U. The work is proportional to the rows a change reaches, never to the
workspace. Sessions are written by the sweep, which resolves them as it inserts them and holds
the workspace's projection lock meanwhile, so a batch's restitch and a sweep never interleave.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class TieChange:
    """Alias `alias` now resolves to another user than `previous_user_id` (None: untied)."""

    workspace_id: uuid.UUID
    alias: str
    previous_user_id: str | None


@dataclass(frozen=True, slots=True)
class AccountChange:
    """User `user_id`'s current account changed."""

    workspace_id: uuid.UUID
    user_id: str


def resolve_sql(*, table: str, own_user: str, own_key: str, own_account: str) -> str:
    """Joins giving `resolved.user_id` and `resolved.account_id` of the row aliased `table`.

    Each lookup is a lateral subquery kept from being flattened (`OFFSET 0`), so it is always
    one primary-key probe per row. As plain joins, while a workspace's tables grew faster
    than autovacuum analyzed them, the planner scanned all its identities once per message.

    A lookup whose answer the rules would not use is not made: the key's tie when the row has
    a userId (an identified user's events and sessions: analytics.js sends an anonymousId with
    every call, and a session's key is its userId when it has no anonymousId), the user's
    account when the row has a groupId. Each such condition is on the row alone, so
    PostgreSQL tests it before the probe (a `One-Time Filter` over the index scan).
    """
    return f"""
    LEFT JOIN LATERAL (
        SELECT i.user_id FROM identities i
        WHERE i.workspace_id = {table}.workspace_id AND i.alias = {own_user} OFFSET 0
    ) AS by_user ON true
    LEFT JOIN LATERAL (
        SELECT i.user_id FROM identities i
        WHERE i.workspace_id = {table}.workspace_id AND i.alias = {own_key}
          AND {own_user} IS NULL
        OFFSET 0
    ) AS by_key ON true
    CROSS JOIN LATERAL (
        SELECT COALESCE(by_user.user_id, {own_user}, by_key.user_id) AS user_id
    ) AS resolved_user
    LEFT JOIN LATERAL (
        SELECT u.account_id FROM users u
        WHERE u.workspace_id = {table}.workspace_id AND u.user_id = resolved_user.user_id
          AND {own_account} IS NULL
        OFFSET 0
    ) AS resolved_owner ON true
    CROSS JOIN LATERAL (
        SELECT resolved_user.user_id,
               COALESCE({own_account}, resolved_owner.account_id) AS account_id
    ) AS resolved"""


# Candidates of one table: rows a changed tie or account can reach (see the module doc),
# each an index range per change (laterals kept unflattened, as in `resolve_sql`).
_CANDIDATES = """
candidates AS (
    SELECT {key} FROM unnest(%(tie_w)s::uuid[], %(tie_alias)s::text[]) AS c(w, alias)
    CROSS JOIN LATERAL (SELECT {key} FROM {table} t
                        WHERE t.workspace_id = c.w AND t.session_key = c.alias OFFSET 0) t
    UNION
    SELECT {key} FROM unnest(%(tie_w)s::uuid[], %(tie_alias)s::text[]) AS c(w, alias)
    CROSS JOIN LATERAL (SELECT {key} FROM {table} t
                        WHERE t.workspace_id = c.w AND t.resolved_user_id = c.alias
                        OFFSET 0) t
    UNION
    SELECT {key} FROM unnest(%(tie_w)s::uuid[], %(tie_alias)s::text[], %(tie_old)s::text[])
                     AS c(w, alias, old)
    CROSS JOIN LATERAL (SELECT {key} FROM {table} t
                        WHERE t.workspace_id = c.w AND t.resolved_user_id = c.old
                          AND t.{own_user} = c.alias OFFSET 0) t
    UNION
    SELECT {key} FROM unnest(%(user_w)s::uuid[], %(user_id)s::text[]) AS c(w, user_id)
    CROSS JOIN LATERAL (SELECT {key} FROM {table} t
                        WHERE t.workspace_id = c.w AND t.resolved_user_id = c.user_id
                          AND t.{own_account} IS NULL OFFSET 0) t
)"""

_RESTITCH = """
WITH {candidates},
recomputed AS (
    SELECT {key}, resolved.user_id, resolved.account_id
    FROM candidates
    CROSS JOIN LATERAL (  -- a primary-key probe per candidate (as a join: a scan of the table)
        SELECT * FROM {table} t WHERE ({key}) = ({candidate_key}) OFFSET 0
    ) AS t
    {resolve}
)
UPDATE {table} t
SET resolved_user_id = recomputed.user_id, resolved_account_id = recomputed.account_id
FROM recomputed
WHERE ({key}) = ({recomputed_key})
  AND (t.resolved_user_id, t.resolved_account_id)
      IS DISTINCT FROM (recomputed.user_id, recomputed.account_id)
"""

# table, its own userId, its own session key, its own groupId, its primary key (events' holds
# their timestamp, the partition key, so each probe finds its month)
_TABLES = (
    ("events", "user_id", "anonymous_id", "account_id", ("workspace_id", "timestamp", "id")),
    ("sessions", "user_id", "session_key", "group_id", ("workspace_id", "id")),
)


def _restitch_sql(
    table: str, own_user: str, own_key: str, own_account: str, key: tuple[str, ...]
) -> str:
    def columns(alias: str) -> str:
        return ", ".join(f"{alias}.{column}" for column in key)

    return _RESTITCH.format(
        table=table,
        key=columns("t"),
        candidate_key=columns("candidates"),
        recomputed_key=columns("recomputed"),
        candidates=_CANDIDATES.format(
            table=table, own_user=own_user, own_account=own_account, key=columns("t")
        ),
        resolve=resolve_sql(
            table="t",
            own_user=f"t.{own_user}",
            own_key=f"t.{own_key}",
            own_account=f"t.{own_account}",
        ),
    )


_RESTITCH_STATEMENTS = [_restitch_sql(*table) for table in _TABLES]


async def restitch(
    connection: AsyncConnection,
    *,
    ties: Sequence[TieChange],
    accounts: Sequence[AccountChange],
) -> None:
    """Bring the attribution of earlier events and sessions up to date with the changes."""
    if not ties and not accounts:
        return
    parameters = {
        "tie_w": [tie.workspace_id for tie in ties],
        "tie_alias": [tie.alias for tie in ties],
        "tie_old": [tie.previous_user_id for tie in ties],
        "user_w": [change.workspace_id for change in accounts],
        "user_id": [change.user_id for change in accounts],
    }
    for statement in _RESTITCH_STATEMENTS:
        await connection.exec_driver_sql(statement, parameters)
