"""Listing refused messages, and replaying one through ingestion."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.db.models import RejectedMessage
from pulsegate.errors import NotFound, PulsegateError
from pulsegate.ingest.auth import SourceInfo
from pulsegate.ingest.service import IngestService
from pulsegate.rejected import repository
from pulsegate.rejected.schemas import RejectedOut, RejectedPage, ReplayOut


class NotReplayable(PulsegateError):
    status_code = 409
    code = "not_replayable"


def _out(row: RejectedMessage) -> RejectedOut:
    return RejectedOut(
        id=row.id,
        received_at=row.received_at,
        endpoint=row.endpoint,
        message_id=row.message_id,
        batch_index=row.batch_index,
        reasons=row.reasons,
        body=row.raw_body.decode("utf-8", "replace"),
        body_truncated=row.body_truncated,
        replayed_at=row.replayed_at,
    )


async def list_rejected(
    session: AsyncSession, workspace_id: uuid.UUID, *, cursor: str | None, limit: int
) -> RejectedPage:
    before = decode_id_cursor(cursor) if cursor else None
    rows = await repository.list_rejected(session, workspace_id, before_id=before, limit=limit + 1)
    page, more = rows[:limit], len(rows) > limit
    return RejectedPage(
        items=[_out(row) for row in page],
        next_cursor=encode_id_cursor(page[-1].id) if more else None,
    )


async def get_rejected(
    session: AsyncSession, workspace_id: uuid.UUID, rejected_id: int
) -> RejectedOut:
    row = await repository.get_rejected(session, workspace_id, rejected_id)
    if row is None:
        raise NotFound(f"no rejected message {rejected_id}")
    return _out(row)


async def replay(
    session: AsyncSession, workspace_id: uuid.UUID, rejected_id: int, *, ingest: IngestService
) -> ReplayOut:
    """Ingest the kept bytes again, under today's rules and limits.

    For refusals whose cause has since changed (a limit raised, a rule relaxed). If the message
    is stored now, the record is marked replayed; if it is refused again, the current reasons
    are raised and the record stays as it was. The bytes themselves cannot be edited here.
    """
    row = await repository.get_rejected(session, workspace_id, rejected_id)
    if row is None:
        raise NotFound(f"no rejected message {rejected_id}")
    if row.body_truncated:
        raise NotReplayable("only the first bytes of this body were kept; it cannot be replayed")
    if row.endpoint.startswith("/api/"):
        raise NotReplayable("a refused REST write is not replayed; send the write again")
    if row.source_id is None:
        raise NotReplayable("the source this message came from no longer exists")
    source = SourceInfo(
        id=row.source_id,
        workspace_id=row.workspace_id,
        enabled=True,
        webhook_secret=None,
        allowed_origins=None,
    )
    outcome = await ingest.replay(
        source=source,
        raw=row.raw_body,
        endpoint=row.endpoint,
        batch_item=row.batch_index is not None,
    )
    await repository.mark_replayed(session, workspace_id, row.id)
    return ReplayOut(replayed=True, rejected=outcome.rejected)
