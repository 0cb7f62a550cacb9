"""The values reverse sync can push: a small registry of named sources.

A source reads one value per account or per user of a workspace, as of a moment. Rules name a
source (and, for custom fields, the field's key); the run asks the source for every entity's
value and sends the ones that changed. A source registers itself with `register`, so the
health score (a later feature) plugs in without touching the runner:

    register(PushedValue("health_score", frozenset({"account"}), "...", read_health_score))

Values are JSON-ready: numbers, strings, booleans; timestamps as ISO 8601 in UTC. An entity
without a value (no metric recorded, dimension never set) is left out, so a run never clears
a Freshsales field it has no value for.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.projection.custom import CUSTOM_PREFIX
from pulsegate.projection.entities import created_condition

Object = Literal["account", "user"]
WINDOW = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Query:
    """What a source is asked for: every `object` of the workspace, as of `as_of`."""

    workspace_id: uuid.UUID
    object: Object
    key: str | None
    as_of: datetime


Reader = Callable[[AsyncConnection, Query], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PushedValue:
    name: str
    objects: frozenset[str]  # which of account and user it has values for
    description: str
    read: Reader  # entity id -> value
    needs_key: bool = False  # reads the custom field named by the rule's `key`


VALUES: dict[str, PushedValue] = {}


def register(source: PushedValue) -> PushedValue:
    VALUES[source.name] = source
    return source


# Every account that exists (it got the fields required to create it) and every user, by its id.
_ENTITIES = {
    "account": "SELECT account_id AS entity_id, fields FROM accounts a "
    f"WHERE a.workspace_id = :w AND {created_condition('a')}",
    "user": "SELECT user_id AS entity_id, fields FROM users u WHERE u.workspace_id = :w",
}
_SESSION_OWNER = {"account": "resolved_account_id", "user": "resolved_user_id"}


def json_value(value: Any) -> Any:
    """A database value as JSON: numbers without Decimal, times as ISO 8601 UTC."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value


async def _rows(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    result = await connection.execute(text(sql), params)
    return {row.entity_id: json_value(row.value) for row in result if row.value is not None}


async def _last_seen(connection: AsyncConnection, query: Query) -> dict[str, Any]:
    table = "accounts" if query.object == "account" else "users"
    id_column = "account_id" if query.object == "account" else "user_id"
    condition = f"AND {created_condition('t')}" if query.object == "account" else ""
    sql = (
        f"SELECT {id_column} AS entity_id, "
        "to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS value "
        f"FROM {table} t WHERE t.workspace_id = :w {condition}"
    )
    return await _rows(connection, sql, {"w": query.workspace_id})


def _usage(expression: str) -> Reader:
    """A measure over the entity's sessions that started in the 30 days before `as_of`;
    an entity without sessions gets 0 (no activity is a value worth pushing)."""

    async def read(connection: AsyncConnection, query: Query) -> dict[str, Any]:
        owner = _SESSION_OWNER[query.object]
        sql = f"""
            SELECT e.entity_id, COALESCE(s.value, 0) AS value
            FROM ({_ENTITIES[query.object]}) e
            LEFT JOIN (
                SELECT {owner} AS entity_id, {expression} AS value
                FROM sessions
                WHERE workspace_id = :w AND started_at >= :since AND started_at < :until
                GROUP BY {owner}
            ) s USING (entity_id)
        """
        params = {"w": query.workspace_id, "since": query.as_of - WINDOW, "until": query.as_of}
        return await _rows(connection, sql, params)

    return read


async def _custom_dimension(connection: AsyncConnection, query: Query) -> dict[str, Any]:
    sql = f"""
        SELECT entity_id, fields->:field->'v' AS value FROM ({_ENTITIES[query.object]}) e
        WHERE jsonb_typeof(fields->:field->'v') IN ('string', 'number', 'boolean')
    """
    params = {"w": query.workspace_id, "field": CUSTOM_PREFIX + str(query.key)}
    return await _rows(connection, sql, params)


async def _custom_metric(connection: AsyncConnection, query: Query) -> dict[str, Any]:
    """The latest day's value up to `as_of`."""
    sql = f"""
        SELECT DISTINCT ON (m.entity_id) m.entity_id, m.value
        FROM metric_values m JOIN ({_ENTITIES[query.object]}) e USING (entity_id)
        WHERE m.workspace_id = :w AND m.object = :object AND m.key = :key AND m.day <= :day
        ORDER BY m.entity_id, m.day DESC
    """
    params = {
        "w": query.workspace_id,
        "object": query.object,
        "key": query.key,
        "day": query.as_of.date(),
    }
    return await _rows(connection, sql, params)


BOTH = frozenset({"account", "user"})
register(PushedValue("last_seen", BOTH, "When the account or user was last seen (UTC)", _last_seen))
register(PushedValue("sessions_30d", BOTH, "Sessions in the last 30 days", _usage("count(*)")))
register(
    PushedValue(
        "time_spent_seconds_30d",
        BOTH,
        "Seconds spent in sessions in the last 30 days",
        _usage("round(sum(duration_ms) / 1000.0)::bigint"),
    )
)
register(
    PushedValue(
        "active_users_30d",
        frozenset({"account"}),
        "Users of the account with a session in the last 30 days",
        _usage("count(DISTINCT resolved_user_id)"),
    )
)
register(
    PushedValue(
        "custom_dimension",
        BOTH,
        "A custom dimension's value (rule `key`)",
        _custom_dimension,
        needs_key=True,
    )
)
register(
    PushedValue(
        "custom_metric",
        BOTH,
        "A custom metric's latest daily value (rule `key`)",
        _custom_metric,
        needs_key=True,
    )
)


async def match_values(
    connection: AsyncConnection, workspace_id: uuid.UUID, entity_type: Object, match_field: str
) -> dict[str, str]:
    """What each entity is found by in Freshsales: a user's email; an account's name, or its
    id when the rule matches on a custom field holding pulsegate's account id."""
    if entity_type == "user":
        expression = "fields->'email'->>'v'"
    elif match_field == "name":
        expression = "fields->'name'->>'v'"
    else:
        expression = "entity_id"
    sql = f"SELECT entity_id, {expression} AS value FROM ({_ENTITIES[entity_type]}) e"
    found = await _rows(connection, sql, {"w": workspace_id})
    return {entity: str(value) for entity, value in found.items() if value != ""}
