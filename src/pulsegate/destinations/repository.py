"""SQL of destinations and their outbox, always scoped to one workspace for the API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pulsegate.db.log_batch import IN_BATCH, batch_parameters
from pulsegate.db.models import Delivery, Destination
from pulsegate.errors import AlreadyExists


async def add_destination(session: AsyncSession, destination: Destination) -> Destination:
    session.add(destination)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(f"a destination named {destination.name!r} exists") from error
    return destination


async def list_destinations(session: AsyncSession, workspace_id: uuid.UUID) -> list[Destination]:
    query = select(Destination).where(Destination.workspace_id == workspace_id)
    return list((await session.scalars(query.order_by(Destination.created_at))).all())


async def get_destination(
    session: AsyncSession, workspace_id: uuid.UUID, destination_id: uuid.UUID
) -> Destination | None:
    query = select(Destination).where(
        Destination.workspace_id == workspace_id, Destination.id == destination_id
    )
    return (await session.scalars(query)).one_or_none()


async def list_deliveries(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    destination_id: uuid.UUID,
    status: str | None,
    after_id: int | None,
    limit: int,
) -> list[Delivery]:
    query = select(Delivery).where(
        Delivery.workspace_id == workspace_id, Delivery.destination_id == destination_id
    )
    if status is not None:
        query = query.where(Delivery.status == status)
    if after_id is not None:
        query = query.where(Delivery.id > after_id)
    return list((await session.scalars(query.order_by(Delivery.id).limit(limit))).all())


async def requeue_delivery(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    destination_id: uuid.UUID,
    delivery_id: int,
    now: datetime,
) -> Delivery | None:
    """A dead or rejected delivery goes back to pending with a fresh retry window."""
    result = await session.execute(
        update(Delivery)
        .where(
            Delivery.workspace_id == workspace_id,
            Delivery.destination_id == destination_id,
            Delivery.id == delivery_id,
            Delivery.status.in_(("dead", "rejected")),
        )
        .values(status="pending", attempts=0, next_attempt_at=now, created_at=now)
        .returning(Delivery)
    )
    return result.scalars().one_or_none()


# A track event the destination will skip gets no delivery row: with `other_events` set to
# `skip`, an event that no mapping names (case-insensitive) and whose own name is not a target
# (`sales_activity`, `lifecycle_stage`) is left out, as `mapping.track_targets` and
# `Forwarder._track` decide when sending. A destination forwarding tracks would otherwise queue
# a row per track call only for the outbox to mark it skipped.
WILL_SKIP = r"""
    m.type = 'track' AND d.other_events = 'skip'
    AND jsonb_typeof(m.message->'event') = 'string'
    AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(d.event_mappings) AS e
        WHERE lower(e->>'from') = lower(m.message->>'event'))
    AND regexp_replace(lower(regexp_replace(m.message->>'event', '^\s+|\s+$', '', 'g')),
                       '\s+', '_', 'g') NOT IN ('sales_activity', 'lifecycle_stage')
"""

_ENQUEUE = (
    """
INSERT INTO deliveries (workspace_id, destination_id, inbound_message_id, received_at,
                        message_id, ordering_key, status, attempts, next_attempt_at,
                        created_at)
SELECT m.workspace_id, d.id, m.id, m.received_at, m.message_id,
       COALESCE(m.message->>'userId', m.message->>'anonymousId', m.message_id),
       'pending', 0, now(), now()
FROM inbound_messages m
JOIN destinations d ON d.workspace_id = m.workspace_id AND d.enabled
                   AND m.type = ANY(d.message_types)
WHERE """
    + IN_BATCH
    + """
  AND NOT ("""
    + WILL_SKIP
    + """)
ON CONFLICT (workspace_id, destination_id, inbound_message_id, received_at) DO NOTHING
"""
)


async def enqueue(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    message_ids: Sequence[int],
    *,
    whole: bool = False,
) -> None:
    await connection.exec_driver_sql(
        _ENQUEUE, batch_parameters(workspace_id, message_ids, whole=whole)
    )


# The first pending delivery of each (destination, user), when it is due: later ones of the
# same user wait for it, so each contact sees its messages in the order they were stored.
# Ordered by the stored message's id, not the delivery's: `INSERT ... SELECT` numbers the
# deliveries of one batch in no particular order.
_DUE = """
SELECT * FROM (
    SELECT DISTINCT ON (d.destination_id, d.ordering_key)
           d.id, d.workspace_id, d.received_at, d.destination_id, d.attempts, d.created_at,
           d.next_attempt_at, m.message
    FROM deliveries d
    JOIN inbound_messages m ON m.workspace_id = d.workspace_id AND m.id = d.inbound_message_id
    WHERE d.status = 'pending'
    ORDER BY d.destination_id, d.ordering_key, d.inbound_message_id
) AS first_pending
WHERE next_attempt_at <= %(now)s
ORDER BY id LIMIT %(limit)s
"""


async def due_deliveries(connection: AsyncConnection, *, now: datetime, limit: int) -> list[Any]:
    result = await connection.exec_driver_sql(_DUE, {"now": now, "limit": limit})
    return list(result.all())


async def enabled_destinations(connection: AsyncConnection) -> list[Any]:
    result = await connection.exec_driver_sql("SELECT * FROM destinations WHERE enabled")
    return list(result.all())


async def record_outcome(
    connection: AsyncConnection,
    delivery: Any,
    *,
    status: str,
    attempts: int,
    next_attempt_at: datetime,
    error: str | None,
    sent_at: datetime | None,
) -> bool:
    """`delivery` is a row of `due_deliveries`: its whole key finds it, in its day. The outcome
    lands only while the row is still as the outbox read it (pending, its attempts unchanged):
    a delivery concluded while it was being sent (by hand, or by a second run whose job lock
    had passed on while this one still sent) keeps that conclusion, and an attempt is counted
    once. Returns whether it landed."""
    result = await connection.exec_driver_sql(
        "UPDATE deliveries SET status = %s, attempts = %s, next_attempt_at = %s, "
        "last_error = %s, sent_at = %s "
        "WHERE workspace_id = %s AND id = %s AND received_at = %s "
        "AND status = 'pending' AND attempts = %s",
        (
            status,
            attempts,
            next_attempt_at,
            error,
            sent_at,
            delivery.workspace_id,
            delivery.id,
            delivery.received_at,
            delivery.attempts,
        ),
    )
    return result.rowcount == 1
