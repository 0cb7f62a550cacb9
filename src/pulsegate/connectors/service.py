"""Connectors: creating one (its configuration checked by `configuration`), the field
catalog, and the records of its runs.

Each mapping's pulsegate field is defined if it is new (source `connector`) and must agree
with it if it exists.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.connectors import repository
from pulsegate.connectors.configuration import (
    field_in,
    mappings_of,
    match_of,
    settings_of,
)
from pulsegate.connectors.feeds import FeedField, FeedUnavailable
from pulsegate.connectors.kinds import open_feed
from pulsegate.connectors.schemas import (
    Catalog,
    CatalogField,
    ConnectorIn,
    ConnectorList,
    ConnectorOut,
    ConnectorRunList,
    ConnectorRunOut,
    FiltersIn,
    IssueOut,
    IssuePage,
    MappingOut,
    MatchIn,
)
from pulsegate.connectors.sync import object_of
from pulsegate.db.engine import unit_of_work
from pulsegate.db.models import Connector, CustomField
from pulsegate.errors import InvalidRequest, NotFound, PulsegateError
from pulsegate.fields.repository import insert_field
from pulsegate.security import SecretBox


class FeedError(PulsegateError):
    """The source could not be read to check the configuration."""

    status_code = 502
    code = "source_unavailable"


def _out(connector: Connector) -> ConnectorOut:
    return ConnectorOut(
        id=connector.id,
        kind=connector.kind,
        name=connector.name,
        settings=connector.settings,
        mappings=[MappingOut.model_validate(m) for m in connector.mappings],
        match={k: MatchIn.model_validate(v) for k, v in connector.match.items()},
        filters=FiltersIn.model_validate(connector.filters),
        state=connector.state,
        has_upload=connector.upload is not None,
        created_at=connector.created_at,
    )


async def create_connector(
    engine: AsyncEngine,
    workspace_id: uuid.UUID,
    body: ConnectorIn,
    *,
    secret_box: SecretBox,
    imports: Path,
) -> ConnectorOut:
    """Check the mappings against the source's fields, then store the connector.

    The source is asked before any transaction begins: no transaction stays open while
    pulsegate waits on another server (here Freshsales, which may take seconds).
    """
    connector = Connector(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        kind=body.kind,
        name=body.name,
        settings=settings_of(body, imports / str(workspace_id)),
        mappings=[],
        match={},
        state={},
        filters=body.filters.model_dump(exclude_none=True),
        secret_encrypted=secret_box.encrypt(body.api_key) if body.api_key else None,
    )
    catalog = await _catalog_of(connector, engine, secret_box)
    mappings = mappings_of(body, catalog)
    connector.mappings = [m.model_dump() for m in mappings]
    connector.match = match_of(body, {object_of(m) for m in mappings}, catalog)
    async with unit_of_work(engine) as session:
        await _define_fields(session, workspace_id, mappings)
        return _out(await repository.add_connector(session, connector))


async def _catalog_of(
    connector: Any, engine: AsyncEngine, secret_box: SecretBox, upload: bytes | None = None
) -> list[FeedField] | None:
    """The source's fields; None for a CSV connector with no file yet (checked at upload)."""
    no_file = not connector.settings.get("path") and connector.upload is None
    if connector.kind == "csv" and upload is None and no_file:
        return None
    source = open_feed(connector, engine, secret_box, upload=upload)
    try:
        return await source.catalog()
    except FeedUnavailable as error:
        if connector.kind == "csv" or error.refused:
            raise InvalidRequest(str(error), code="source_refused") from error
        raise FeedError(str(error)) from error
    finally:
        await source.aclose()


async def _define_fields(
    session: AsyncSession, workspace_id: uuid.UUID, mappings: list[MappingOut]
) -> None:
    for mapping in mappings:
        object_name, kind = mapping.target.split("_")
        existing = await session.scalar(
            select(CustomField).where(
                CustomField.workspace_id == workspace_id,
                CustomField.object == object_name,
                CustomField.key == mapping.key,
            )
        )
        if existing is None:
            await insert_field(
                session,
                CustomField(
                    workspace_id=workspace_id,
                    object=object_name,
                    kind=kind,
                    key=mapping.key,
                    type=mapping.type,
                    label=mapping.key,
                    source="connector",
                ),
            )
        elif (existing.kind, existing.type) != (kind, mapping.type):
            raise InvalidRequest(
                f"{object_name} field {mapping.key!r} is a {existing.type} {existing.kind}; "
                f"this mapping would make it a {mapping.type} {kind}",
                code="field_conflict",
            )


async def list_connectors(session: AsyncSession, workspace_id: uuid.UUID) -> ConnectorList:
    rows = await repository.list_connectors(session, workspace_id)
    return ConnectorList(items=[_out(row) for row in rows])


async def get_connector(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> Connector:
    connector = await repository.get_connector(session, workspace_id, connector_id)
    if connector is None:
        raise NotFound(f"no connector {connector_id}")
    return connector


async def describe(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> ConnectorOut:
    return _out(await get_connector(session, workspace_id, connector_id))


async def delete_connector(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID
) -> None:
    if not await repository.delete_connector(session, workspace_id, connector_id):
        raise NotFound(f"no connector {connector_id}")


async def upload(
    engine: AsyncEngine,
    workspace_id: uuid.UUID,
    connector_id: uuid.UUID,
    data: bytes,
    *,
    secret_box: SecretBox,
) -> ConnectorOut:
    """Keep a CSV file for the connector's runs, once its columns are checked."""
    async with unit_of_work(engine) as session:
        connector = await get_connector(session, workspace_id, connector_id)
    if connector.kind != "csv":
        raise InvalidRequest("only a CSV connector takes a file", code="not_for_kind")
    catalog = await _catalog_of(connector, engine, secret_box, upload=data)
    for mapping in connector.mappings:
        field_in(catalog, connector.settings["object"], mapping["field"])
    for object_name, match in connector.match.items():
        field_in(catalog, object_name, match["field"])
    async with unit_of_work(engine) as session:
        connector = await get_connector(session, workspace_id, connector_id)
        connector.upload = data.decode("utf-8-sig")
        await session.flush()
        return _out(connector)


async def catalog(
    engine: AsyncEngine, workspace_id: uuid.UUID, connector_id: uuid.UUID, *, secret_box: SecretBox
) -> Catalog:
    """The source's fields, asked once the connector was read and its transaction ended."""
    async with unit_of_work(engine) as session:
        connector = await get_connector(session, workspace_id, connector_id)
    fields = await _catalog_of(connector, engine, secret_box)
    if fields is None:
        raise InvalidRequest("no file yet: give a path or upload one", code="source_refused")
    return Catalog(items=[CatalogField.model_validate(f, from_attributes=True) for f in fields])


CATALOG_COLUMNS = ("object", "name", "label", "type", "standard")


def catalog_csv(found: Catalog) -> str:
    """The catalog as a spreadsheet to pick fields from."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CATALOG_COLUMNS)
    for item in found.items:
        writer.writerow(
            [
                item.object,
                item.name,
                item.label,
                item.type,
                "standard" if item.standard else "custom",
            ]
        )
    return out.getvalue()


async def list_runs(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID, *, limit: int
) -> ConnectorRunList:
    await get_connector(session, workspace_id, connector_id)
    runs = await repository.list_runs(session, connector_id, limit=limit)
    return ConnectorRunList(
        items=[ConnectorRunOut.model_validate(r, from_attributes=True) for r in runs]
    )


async def get_run(
    session: AsyncSession, workspace_id: uuid.UUID, connector_id: uuid.UUID, run_id: int
) -> ConnectorRunOut:
    await get_connector(session, workspace_id, connector_id)
    run = await repository.get_run(session, connector_id, run_id)
    if run is None:
        raise NotFound(f"no run {run_id} of this connector")
    return ConnectorRunOut.model_validate(run, from_attributes=True)


async def list_issues(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    connector_id: uuid.UUID,
    run_id: int,
    *,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> IssuePage:
    await get_run(session, workspace_id, connector_id, run_id)
    rows = await repository.list_issues(
        session,
        run_id,
        kind=kind,
        after_id=decode_id_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    return IssuePage(
        items=[IssueOut.model_validate(row, from_attributes=True) for row in page],
        next_cursor=encode_id_cursor(page[-1].id) if len(rows) > limit else None,
    )
