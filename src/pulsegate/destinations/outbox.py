"""Sending the outbox to Freshsales: what the delivery job runs every few seconds.

Each run takes the deliveries that are due, at most the first pending one per destination
and user (so a contact sees its messages in log order), and forwards each:
- sent: done;
- rejected: the message cannot be forwarded (the mapping's reason) or Freshsales refused it
  with a 4xx; final, with the reason kept, and retriable by hand;
- skipped: the destination's settings leave it out (an unmapped event set to `skip`); final;
- throttled: tried again when Freshsales (or our budget) says, and the destination is left
  alone for the rest of the run;
- retryable (5xx, timeout, no answer): tried again after an exponential back-off with jitter,
  until `retry_hours` after the delivery was created; then dead.

Nothing is held open while sending: results are written one by one, and the job runs under
its advisory lock, so no two runs send the same delivery.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.destinations import repository
from pulsegate.destinations.service import client_for
from pulsegate.freshsales.client import FreshsalesClient, FreshsalesError
from pulsegate.freshsales.forward import Forwarder, ForwardingRules, Lookups, Skipped
from pulsegate.freshsales.mapping import MappingError
from pulsegate.security import SecretBox

log = structlog.get_logger(__name__)

FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=15)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s, ... up to 15 minutes, each scaled by a random 50-100% (full spread would
    let a delay collapse to nothing; none would let retries of many deliveries bunch up)."""
    ceiling = min(MAX_BACKOFF, FIRST_BACKOFF * int(2 ** max(attempts - 1, 0)))
    return ceiling * random.uniform(0.5, 1.0)


@dataclass
class DeliveryRun:
    sent: int = 0
    rejected: int = 0
    skipped: int = 0
    retried: int = 0
    throttled: int = 0
    dead: int = 0


@dataclass
class Outcome:
    status: str
    attempts: int
    next_attempt_at: datetime
    error: str | None = None
    throttled: bool = False


@dataclass
class Outbox:
    engine: AsyncEngine
    secret_box: SecretBox
    clock: Callable[[], datetime] | None = None  # simulated time in tests
    _lookups: dict[uuid.UUID, Lookups] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    async def deliver_due(self, *, limit: int = 200) -> DeliveryRun:
        now = self.now()
        async with self.engine.connect() as connection:
            destinations = {d.id: d for d in await repository.enabled_destinations(connection)}
            due = await repository.due_deliveries(connection, now=now, limit=limit)
        run, clients, held_back = DeliveryRun(), {}, set()
        try:
            for delivery in due:
                destination = destinations.get(delivery.destination_id)
                if destination is None or destination.id in held_back:
                    continue
                if destination.id not in clients:
                    clients[destination.id] = self._client(destination)
                outcome = await self._send(clients[destination.id], destination, delivery)
                if outcome.throttled:
                    held_back.add(destination.id)
                await self._record(delivery, outcome, run)
        finally:
            for client in clients.values():
                await client.aclose()
        if due:
            log.info("outbox.run.done", **run.__dict__)
        return run

    def _client(self, destination: Any) -> FreshsalesClient:
        return client_for(destination, self.engine, self.secret_box, clock=self.clock)

    async def _send(self, client: FreshsalesClient, destination: Any, delivery: Any) -> Outcome:
        rules = ForwardingRules(
            types=frozenset(destination.message_types),
            event_mappings=list(destination.event_mappings),
            other_events=destination.other_events,
            activity_type=destination.activity_type,
            activity_owner_id=destination.activity_owner_id,
        )
        lookups = self._lookups.setdefault(destination.id, Lookups(client))
        lookups.use(client)
        attempts = delivery.attempts + 1
        now = self.now()
        try:
            await Forwarder(client, rules, lookups).forward(delivery.message)
        except MappingError as error:
            return Outcome("rejected", attempts, now, error.message)
        except Skipped as skipped:
            return Outcome("skipped", attempts, now, skipped.message)
        except FreshsalesError as error:
            if error.kind == "rejected":
                return Outcome("rejected", attempts, now, f"Freshsales: {error.message}")
            if error.kind == "throttled":
                return self._retry(destination, delivery, attempts, error.message, error)
            return self._retry(destination, delivery, attempts, error.message)
        except Exception as error:
            # Anything else (a destination's bad configuration, a bug) fails this delivery
            # only: it is retried, then kept as dead with the reason; the run goes on to every
            # other destination's deliveries.
            log.exception("outbox.delivery.failed", delivery_id=delivery.id)
            return self._retry(destination, delivery, attempts, f"{type(error).__name__}: {error}")
        return Outcome("sent", attempts, now)

    def _retry(
        self,
        destination: Any,
        delivery: Any,
        attempts: int,
        message: str,
        throttled: FreshsalesError | None = None,
    ) -> Outcome:
        """Again later (after the back-off, or what Freshsales asked), or dead past the
        destination's retry window."""
        now = self.now()
        deadline = delivery.created_at + timedelta(hours=float(destination.retry_hours))
        if now >= deadline:
            return Outcome("dead", attempts, now, f"gave up after {attempts} attempts: {message}")
        if throttled is not None:
            wait = timedelta(seconds=throttled.retry_after or 60)
            return Outcome("pending", attempts, now + wait, message, throttled=True)
        return Outcome("pending", attempts, now + backoff(attempts), message)

    async def _record(self, delivery: Any, outcome: Outcome, run: DeliveryRun) -> None:
        async with self.engine.begin() as connection:
            landed = await repository.record_outcome(
                connection,
                delivery,
                status=outcome.status,
                attempts=outcome.attempts,
                next_attempt_at=outcome.next_attempt_at,
                error=outcome.error,
                sent_at=outcome.next_attempt_at if outcome.status == "sent" else None,
            )
        if not landed:
            log.warning(
                "outbox.delivery.changed_while_sent",
                delivery_id=delivery.id,
                outcome=outcome.status,
            )
            return
        if outcome.status == "pending":
            if outcome.throttled:
                run.throttled += 1
            else:
                run.retried += 1
        else:
            setattr(run, outcome.status, getattr(run, outcome.status) + 1)
