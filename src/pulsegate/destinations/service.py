"""Destinations: connecting a Freshsales account, and the deliveries of its outbox."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.db.models import Destination
from pulsegate.destinations import repository
from pulsegate.destinations.schemas import (
    DeliveryOut,
    DeliveryPage,
    DestinationIn,
    DestinationList,
    DestinationOut,
    EventMapping,
)
from pulsegate.errors import InvalidRequest, NotFound
from pulsegate.freshsales.budget import RateBudget
from pulsegate.freshsales.client import FreshsalesClient, endpoint_for
from pulsegate.security import SecretBox


def _out(destination: Destination) -> DestinationOut:
    return DestinationOut(
        id=destination.id,
        kind=destination.kind,
        name=destination.name,
        domain=destination.domain,
        api_base=endpoint_for(destination.domain).base_url,
        message_types=destination.message_types,
        event_mappings=[EventMapping.model_validate(m) for m in destination.event_mappings],
        other_events=destination.other_events,
        activity_type=destination.activity_type,
        activity_owner_id=destination.activity_owner_id,
        per_minute=destination.per_minute,
        per_hour=destination.per_hour,
        retry_hours=float(destination.retry_hours),
        enabled=destination.enabled,
    )


async def create_destination(
    session: AsyncSession, workspace_id: uuid.UUID, body: DestinationIn, *, secret_box: SecretBox
) -> DestinationOut:
    try:
        endpoint = endpoint_for(body.domain)
    except ValueError as error:
        raise InvalidRequest(str(error), code="invalid_domain") from error
    records = ["page calls"] if "page" in body.message_types else []
    if body.other_events == "sales_activity":
        records.append("unmapped track events")
    if records and body.activity_type is None:
        raise InvalidRequest(
            f"recording {' and '.join(records)} as sales activities needs `activity_type`",
            code="activity_type_required",
        )
    destination = Destination(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        kind=body.kind,
        name=body.name,
        domain=endpoint.domain,
        api_key_encrypted=secret_box.encrypt(body.api_key),
        message_types=sorted(set(body.message_types)),
        event_mappings=[m.model_dump(by_alias=True) for m in body.event_mappings],
        other_events=body.other_events,
        activity_type=body.activity_type,
        activity_owner_id=body.activity_owner_id,
        per_minute=body.per_minute,
        per_hour=body.per_hour,
        retry_hours=body.retry_hours,
        enabled=True,
    )
    return _out(await repository.add_destination(session, destination))


async def list_destinations(session: AsyncSession, workspace_id: uuid.UUID) -> DestinationList:
    return DestinationList(
        items=[_out(d) for d in await repository.list_destinations(session, workspace_id)]
    )


async def _destination(
    session: AsyncSession, workspace_id: uuid.UUID, destination_id: uuid.UUID
) -> Destination:
    destination = await repository.get_destination(session, workspace_id, destination_id)
    if destination is None:
        raise NotFound(f"no destination {destination_id}")
    return destination


async def list_deliveries(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    destination_id: uuid.UUID,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    await _destination(session, workspace_id, destination_id)
    rows = await repository.list_deliveries(
        session,
        workspace_id=workspace_id,
        destination_id=destination_id,
        status=status,
        after_id=decode_id_cursor(cursor) if cursor else None,
        limit=limit + 1,
    )
    page = rows[:limit]
    return DeliveryPage(
        items=[DeliveryOut.model_validate(row, from_attributes=True) for row in page],
        next_cursor=encode_id_cursor(page[-1].id) if len(rows) > limit else None,
    )


async def retry_delivery(
    session: AsyncSession, workspace_id: uuid.UUID, destination_id: uuid.UUID, delivery_id: int
) -> DeliveryOut:
    await _destination(session, workspace_id, destination_id)
    requeued = await repository.requeue_delivery(
        session,
        workspace_id=workspace_id,
        destination_id=destination_id,
        delivery_id=delivery_id,
        now=datetime.now(UTC),
    )
    if requeued is None:
        raise NotFound(f"no dead or rejected delivery {delivery_id}")
    return DeliveryOut.model_validate(requeued, from_attributes=True)


async def enqueue_deliveries(
    connection: AsyncConnection,
    workspace_id: uuid.UUID,
    message_ids: Sequence[int],
    *,
    whole: bool = False,
) -> None:
    """For the projector: queue the workspace's messages for every destination that forwards
    their type, in the projector's transaction, so a projected message is never left
    undelivered."""
    await repository.enqueue(connection, workspace_id, message_ids, whole=whole)


def client_for(
    destination: Any,
    engine: AsyncEngine,
    secret_box: SecretBox,
    *,
    clock: Callable[[], datetime] | None = None,
) -> FreshsalesClient:
    """A client for the destination's account, inside its plan's shared rate budget."""
    budget = RateBudget(
        engine, per_minute=destination.per_minute, per_hour=destination.per_hour, clock=clock
    )
    return FreshsalesClient(
        domain=destination.domain,
        api_key=secret_box.decrypt(destination.api_key_encrypted),
        budget=budget,
    )


async def forget_contacts(
    engine: AsyncEngine,
    secret_box: SecretBox,
    workspace_id: uuid.UUID,
    *,
    external_ids: Sequence[str],
    emails: Sequence[str],
) -> int:
    """Delete ("forget") in each of the workspace's Freshsales destinations the contacts of an
    erased person: those whose `external_id` is one of their ids (what forwarding sets) or whose
    email is one of theirs. Return how many were deleted."""
    async with engine.connect() as connection:
        session = AsyncSession(bind=connection)
        destinations = await repository.list_destinations(session, workspace_id)
        await session.close()
    forgotten = 0
    for destination in destinations:
        if destination.kind != "freshsales":
            continue
        client = client_for(destination, engine, secret_box)
        try:
            found: dict[Any, dict[str, Any]] = {}
            if external_ids:
                rule = {
                    "attribute": "external_id",
                    "operator": "is_in",
                    "value": list(external_ids),
                }
                for contact in await client.search("contact", [rule]):
                    found[contact.get("id")] = contact
            if emails:
                rule = {
                    "attribute": "contact_email.email",
                    "operator": "is_in",
                    "value": list(emails),
                }
                for contact in await client.search("contact", [rule]):
                    found[contact.get("id")] = contact
            for contact_id in found:
                if contact_id is not None:
                    await client.forget_contact(contact_id)
                    forgotten += 1
        finally:
            await client.aclose()
    return forgotten
