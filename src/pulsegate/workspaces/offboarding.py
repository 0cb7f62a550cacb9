"""Offboarding: a workspace and everything it holds, gone; every other workspace untouched.

In order, each step in short transactions of its own (a big workspace's log is deleted a day's
partition at a time, never in one long transaction):

1. its sources are disabled and its API keys revoked, and every process told at once, so no
   new message or request of it is accepted while it is being deleted;
2. every table with a `workspace_id` column loses the workspace's rows: found in the catalog,
   so a table added later is not forgotten; partitioned tables a partition at a time;
3. its archive objects are deleted from the store, then from the manifest;
4. the workspace row itself (its sources and keys go with it), and once more the log, for a
   message a writer was storing when step 1 happened.

The audit log keeps the record of the offboarding (it is global, and holds no personal data).
Returns the rows deleted per table (archive: objects).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import unit_of_work
from pulsegate.storage.stores import ArchiveStore
from pulsegate.workspaces import audit, changes

log = structlog.get_logger(__name__)

# The workspace's tables as the catalog has them: the tables (and partitions, for partitioned
# ones) holding a workspace_id column, the audit log and the archive's manifest left out.
_TABLES = """
SELECT COALESCE(child.relname, parent.relname) AS table_name, parent.relname AS parent_name
FROM pg_attribute a
JOIN pg_class parent ON parent.oid = a.attrelid
LEFT JOIN pg_inherits i ON i.inhparent = parent.oid
LEFT JOIN pg_class child ON child.oid = i.inhrelid
WHERE a.attname = 'workspace_id' AND NOT a.attisdropped
  AND parent.relkind IN ('r', 'p') AND NOT parent.relispartition
  AND parent.relnamespace = current_schema()::regnamespace
  AND parent.relname NOT IN ('audit_log', 'archived_objects')
ORDER BY parent.relname, table_name
"""


async def offboard(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, store: ArchiveStore | None, actor: str
) -> dict[str, int]:
    async with unit_of_work(engine) as session:
        await session.execute(
            text("UPDATE sources SET enabled = false WHERE workspace_id = :w"), {"w": workspace_id}
        )
        await session.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE workspace_id = :w"),
            {"w": workspace_id},
        )
        await changes.announce(session)
    deleted: dict[str, int] = defaultdict(int)
    await _delete_rows(engine, workspace_id, deleted)
    deleted["archive"] = await _delete_archive(engine, workspace_id, store)
    async with unit_of_work(engine) as session:
        result = await session.execute(
            text("DELETE FROM workspaces WHERE id = :w"), {"w": workspace_id}
        )
        deleted["workspaces"] = result.rowcount  # type: ignore[attr-defined]
        await changes.announce(session)  # its write keys are unknown now, no longer disabled
        await audit.record(
            session,
            actor=actor,
            workspace_id=workspace_id,
            action="workspace.offboarded",
            details={"deleted": dict(deleted)},
        )
    await _delete_rows(engine, workspace_id, deleted)  # a write in flight at step 1
    log.info("workspace.offboarded", workspace_id=str(workspace_id), deleted=dict(deleted))
    return dict(deleted)


async def _delete_rows(
    engine: AsyncEngine, workspace_id: uuid.UUID, deleted: dict[str, int]
) -> None:
    async with engine.connect() as connection:
        tables = [
            (row.table_name, row.parent_name) for row in await connection.execute(text(_TABLES))
        ]
    for table, parent in tables:
        async with engine.begin() as connection:
            result = await connection.execute(
                text(f'DELETE FROM "{table}" WHERE workspace_id = :w'), {"w": workspace_id}
            )
        deleted[parent] += result.rowcount


async def _delete_archive(
    engine: AsyncEngine, workspace_id: uuid.UUID, store: ArchiveStore | None
) -> int:
    async with engine.connect() as connection:
        keys = [
            row.key
            for row in await connection.execute(
                text("SELECT key FROM archived_objects WHERE workspace_id = :w"),
                {"w": workspace_id},
            )
        ]
    if keys and store is None:
        raise RuntimeError("the workspace has archive objects and no archive store is configured")
    for key in keys:
        assert store is not None
        await asyncio.to_thread(store.delete, key)
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM archived_objects WHERE workspace_id = :w AND key = :key"),
                {"w": workspace_id, "key": key},
            )
    return len(keys)
