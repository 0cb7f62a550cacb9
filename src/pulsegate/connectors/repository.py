"""SQL of connectors: their rows, runs and issues, and the values a run writes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.models import Connector, ConnectorIssue, ConnectorRun
from pulsegate.errors import AlreadyExists

# --- connectors --------------------------------------------------------------------------


async def add_connector(session: AsyncSession, connector: Connector) -> Connector:
    session.add(connector)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(f"the workspace already has a connector {connector.name!r}") from error
    await session.refresh(connector)
    return connector


async def list_connectors(session: AsyncSession, workspace_id: uuid.UUID) -> list[Connector]:
    query = select(Connector).where(Connector.workspace_id == workspace_id)
    return list((await session.scalars(query.order_by(Connector.created_at))).all())


async def get_connector(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> Connector | None:
    return await session.get(Connector, (workspace_id, connector_id))


async def delete_connector(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(Connector)
        .where(Connector.workspace_id == workspace_id, Connector.id == connector_id)
        .returning(Connector.id)
    )
    return result.first() is not None


async def all_connector_ids(connection: AsyncConnection) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace, connector) of every connector, oldest first (the nightly run)."""
    query = select(Connector.workspace_id, Connector.id).order_by(Connector.created_at)
    return [(row.workspace_id, row.id) for row in await connection.execute(query)]


async def connector_row(
    connection: AsyncConnection, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> Any:
    query = select(Connector.__table__).where(
        Connector.workspace_id == workspace_id, Connector.id == connector_id
    )
    return (await connection.execute(query)).first()


async def save_state(connection: AsyncConnection, connector: Any, state: dict[str, Any]) -> None:
    await connection.execute(
        update(Connector)
        .where(Connector.workspace_id == connector.workspace_id, Connector.id == connector.id)
        .values(state=state)
    )


# --- runs and issues ---------------------------------------------------------------------


async def start_run(connection: AsyncConnection, values: dict[str, Any]) -> Any:
    """Runs of the connector still marked running were cut off (the caller holds the
    connector's lock, so none is really running): they are marked failed first."""
    await connection.execute(
        update(ConnectorRun)
        .where(
            ConnectorRun.connector_id == values["connector_id"], ConnectorRun.status == "running"
        )
        .values(
            status="failed",
            finished_at=values["started_at"],
            error="interrupted: the process running it stopped",
        )
    )
    insert_run = insert(ConnectorRun).values(**values).returning(*ConnectorRun.__table__.c)
    return (await connection.execute(insert_run)).one()


async def update_run(
    connection: AsyncConnection, workspace_id: uuid.UUID, run_id: int, **values: Any
) -> None:
    await connection.execute(
        update(ConnectorRun)
        .where(ConnectorRun.workspace_id == workspace_id, ConnectorRun.id == run_id)
        .values(**values)
    )


async def list_runs(
    session: AsyncSession, connector_id: uuid.UUID, *, limit: int
) -> list[ConnectorRun]:
    query = (
        select(ConnectorRun)
        .where(ConnectorRun.connector_id == connector_id)
        .order_by(ConnectorRun.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def get_run(session: AsyncSession, connector_id: uuid.UUID, run_id: int) -> Any:
    query = select(ConnectorRun).where(
        ConnectorRun.connector_id == connector_id, ConnectorRun.id == run_id
    )
    return (await session.scalars(query)).one_or_none()


async def add_issues(connection: AsyncConnection, issues: Sequence[dict[str, Any]]) -> None:
    if issues:
        await connection.execute(insert(ConnectorIssue), list(issues))


async def list_issues(
    session: AsyncSession, run_id: int, *, kind: str | None, after_id: int | None, limit: int
) -> list[ConnectorIssue]:
    query = select(ConnectorIssue).where(ConnectorIssue.run_id == run_id)
    if kind is not None:
        query = query.where(ConnectorIssue.kind == kind)
    if after_id is not None:
        query = query.where(ConnectorIssue.id > after_id)
    return list((await session.scalars(query.order_by(ConnectorIssue.id).limit(limit))).all())


# --- matching and writing ----------------------------------------------------------------

# How a match value finds entities: (table, key column, compared expression).
_MATCH = {
    ("account", "id"): ("accounts", "account_id", "account_id"),
    ("account", "name"): ("accounts", "account_id", "fields->'name'->>'v'"),
    ("user", "external_id"): ("users", "user_id", "user_id"),
    ("user", "email"): ("users", "user_id", "lower(fields->'email'->>'v')"),
}
TABLES = {"account": ("accounts", "account_id"), "user": ("users", "user_id")}


async def entities_by(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    object_name: str,
    by: str,
    values: Sequence[str],
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Match value -> the (entity id, merged fields) it finds; more than one is ambiguous."""
    table, key, expression = _MATCH[object_name, by]
    sql = text(
        f"SELECT {expression} AS value, {key} AS entity, fields FROM {table} "
        f"WHERE workspace_id = :w AND {expression} = ANY(:values)"
    )
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    rows = await connection.execute(sql, {"w": workspace_id, "values": list(set(values))})
    for row in rows:
        found.setdefault(row.value, []).append((row.entity, row.fields))
    return found


async def merge_fields(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    object_name: str,
    patches: dict[str, dict[str, Any]],
) -> None:
    """Merge `{entity id: {field: {v, t, m}}}` into the entities' fields, newest per field."""
    if not patches:
        return
    table, key = TABLES[object_name]
    await connection.execute(
        text(
            f"UPDATE {table} AS e SET fields = pulsegate_merge_fields(e.fields, p.value) "
            f"FROM jsonb_each(CAST(:patches AS jsonb)) AS p "
            f"WHERE e.workspace_id = :w AND e.{key} = p.key"
        ),
        {"w": workspace_id, "patches": json.dumps(patches)},
    )


async def metrics_of_day(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    object_name: str,
    day: date,
    entity_ids: Sequence[str],
    keys: Sequence[str],
) -> dict[tuple[str, str], Any]:
    sql = text(
        "SELECT entity_id, key, value FROM metric_values WHERE workspace_id = :w "
        "AND object = :o AND day = :day AND entity_id = ANY(:ids) AND key = ANY(:keys)"
    )
    params = {
        "w": workspace_id,
        "o": object_name,
        "day": day,
        "ids": list(entity_ids),
        "keys": list(keys),
    }
    return {(r.entity_id, r.key): r.value for r in await connection.execute(sql, params)}


async def carry_metrics_forward(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    object_name: str,
    keys: Sequence[str],
    *,
    written_by: str,
    day: date,
    t: int,
    m: str,
) -> int:
    """Give today the latest earlier value this connector wrote, where today has none."""
    sql = text("""
        INSERT INTO metric_values (workspace_id, object, entity_id, key, day, value, t, m)
        SELECT workspace_id, object, entity_id, key, :day, value, :t, :m FROM (
            SELECT DISTINCT ON (entity_id, key) * FROM metric_values
            WHERE workspace_id = :w AND object = :o AND key = ANY(:keys) AND m LIKE :written_by
              AND day < :day
            ORDER BY entity_id, key, day DESC
        ) AS latest
        ON CONFLICT DO NOTHING
    """)
    result = await connection.execute(
        sql,
        {
            "w": workspace_id,
            "o": object_name,
            "keys": list(keys),
            "written_by": written_by + "%",
            "day": day,
            "t": t,
            "m": m,
        },
    )
    return int(result.rowcount)
