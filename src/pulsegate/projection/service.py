"""Applying the log to the projections, one bounded batch per transaction."""

from __future__ import annotations

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.destinations import service as destinations_service
from pulsegate.projection import custom, entities, repository
from pulsegate.projection.repository import LogPosition, PendingMessage

log = structlog.get_logger(__name__)

PROJECTOR_LOCK_ID = 0x70726F6A  # "proj"


async def project_next_batch(engine: AsyncEngine, *, batch_size: int = 1000) -> int:
    """Apply the next batch of committed messages; return how many were read.

    The batch and the new watermark commit together, and every projection is idempotent, so a
    crash between batches repeats nothing and a replay changes nothing. Returns 0 when another
    replica holds the projector lock or nothing is waiting.
    """
    async with engine.begin() as connection:
        if not await repository.try_lock(connection, PROJECTOR_LOCK_ID):
            return 0
        position = await repository.read_position(connection)
        messages = await repository.next_messages(connection, position, batch_size)
        if not messages:
            return 0
        await apply_messages(connection, messages)
        last = messages[-1]
        await repository.save_position(connection, LogPosition(last.txid, last.id))
    log.debug("projection.batch.applied", messages=len(messages))
    return len(messages)


async def _project(connection: AsyncConnection, message_ids: list[int]) -> None:
    await repository.project_events(connection, message_ids)
    await entities.project_accounts_and_users(connection, message_ids)
    await custom.project_custom_dimensions(connection, message_ids)
    await destinations_service.enqueue_deliveries(connection, message_ids)


async def apply_messages(connection: AsyncConnection, messages: list[PendingMessage]) -> None:
    """Set-based for the batch; one message at a time only when the batch fails.

    A message that cannot be applied is recorded in `projection_failures` with its error and
    the rest go on: one bad message never blocks the log.
    """
    try:
        async with connection.begin_nested():
            await _project(connection, [m.id for m in messages])
        return
    except DBAPIError:
        log.warning("projection.batch.failed", messages=len(messages))
    for message in messages:
        try:
            async with connection.begin_nested():
                await _project(connection, [message.id])
        except DBAPIError as error:
            reason = str(error.orig).splitlines()[0] if error.orig else str(error)
            log.error("projection.message.failed", inbound_message_id=message.id, error=reason)
            await repository.record_failure(connection, message, reason)
