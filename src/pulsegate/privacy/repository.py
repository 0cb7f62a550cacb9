"""SQL of erasures and the suppression list."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.models import Erasure, Suppression

# A job left `running` this long ago by a process that died is taken over.
STALE_AFTER = "15 minutes"


async def unfinished_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, subject_hash: str
) -> Erasure | None:
    query = select(Erasure).where(
        Erasure.workspace_id == workspace_id,
        Erasure.subject_hash == subject_hash,
        Erasure.finished_at.is_(None),
    )
    return (await session.scalars(query)).first()


async def get_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, erasure_id: uuid.UUID
) -> Erasure | None:
    return await session.get(Erasure, (workspace_id, erasure_id))


async def list_erasures(session: AsyncSession, workspace_id: uuid.UUID) -> list[Erasure]:
    query = (
        select(Erasure)
        .where(Erasure.workspace_id == workspace_id)
        .order_by(Erasure.requested_at.desc())
        .limit(1000)
    )
    return list(await session.scalars(query))


async def suppress(
    session: AsyncSession | AsyncConnection,
    workspace_id: uuid.UUID,
    hashes: dict[str, str],
    erasure_id: uuid.UUID,
) -> None:
    """`hashes`: id hash to the kind of id; ids already suppressed stay as they are."""
    if not hashes:
        return
    await session.execute(
        insert(Suppression)
        .values(
            [
                {"workspace_id": workspace_id, "id_hash": h, "kind": kind, "erasure_id": erasure_id}
                for h, kind in hashes.items()
            ]
        )
        .on_conflict_do_nothing()
    )


async def list_suppressions(session: AsyncSession, workspace_id: uuid.UUID) -> list[Suppression]:
    query = (
        select(Suppression)
        .where(Suppression.workspace_id == workspace_id)
        .order_by(Suppression.created_at.desc(), Suppression.id_hash)
    )
    return list(await session.scalars(query))


async def lift(session: AsyncSession, workspace_id: uuid.UUID, id_hash: str) -> bool:
    result = await session.execute(
        text("DELETE FROM suppressions WHERE workspace_id = :w AND id_hash = :h"),
        {"w": workspace_id, "h": id_hash},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim_next(connection: AsyncConnection) -> dict[str, Any] | None:
    """The oldest erasure to run (pending, or abandoned while running), marked running."""
    result = await connection.execute(
        text(
            f"""
            UPDATE erasures e SET status = 'running', started_at = now()
            FROM (
                SELECT workspace_id, id FROM erasures
                WHERE finished_at IS NULL
                  AND (status = 'pending'
                       OR (status = 'running' AND started_at < now() - interval '{STALE_AFTER}'))
                ORDER BY requested_at
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            ) next
            WHERE e.workspace_id = next.workspace_id AND e.id = next.id
            RETURNING e.workspace_id, e.id, e.subject, e.subject_ids, e.delete_in_destinations
            """
        )
    )
    row = result.mappings().first()
    return dict(row) if row else None


async def finish(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    erasure_id: uuid.UUID,
    *,
    counts: dict[str, int] | None,
    error: str | None,
) -> None:
    """Succeeded: the ids go (only their hash stays). Failed: kept, to run it again."""
    await connection.execute(
        text(
            """
            UPDATE erasures SET finished_at = now(),
                status = CASE WHEN CAST(:error AS text) IS NULL THEN 'succeeded' ELSE 'failed' END,
                counts = COALESCE(CAST(:counts AS jsonb), counts), error = :error,
                subject_ids = CASE WHEN CAST(:error AS text) IS NULL THEN NULL
                              ELSE subject_ids END
            WHERE workspace_id = :w AND id = :id
            """
        ),
        {
            "w": workspace_id,
            "id": erasure_id,
            "counts": None if counts is None else json.dumps(counts),
            "error": error,
        },
    )
