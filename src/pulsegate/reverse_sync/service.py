"""Reverse sync: pulsegate's own values written back to the Freshsales fields a workspace chose.

A run goes destination by destination:
1. each rule's source gives a value per account or user (`sources`), and each entity is given
   what Freshsales finds it by: a user's email; an account's name, or its id for a rule that
   matches on a `cf_*` field holding pulsegate's account id;
2. a value equal to the one last pushed for the same record is dropped: only changes go out;
3. the changes are grouped per Freshsales record, one upsert each (standard fields at the top,
   `cf_*` under `custom_field`), through the destination's shared rate budget;
4. each write is recorded as an item of the run, and once Freshsales took it, its values are
   stored as pushed. A failed write stores nothing, so its values go again next run.

The upsert creates a record that does not match. Matched by name or email that is a new
account or contact, as forwarding would make; matched by a custom field, Freshsales refuses it
(an account needs a name), so the item fails with that reason and nothing is created.

When the budget runs out, a run waits if Freshsales' wait is at most `max_wait` seconds (the
nightly job) and otherwise stops, counting the rest as deferred (an API run answers at once).
One run per workspace at a time: an advisory lock keeps a manual run off a nightly one.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.db.engine import advisory_lock
from pulsegate.db.models import CustomField, Destination, ReverseSyncRule
from pulsegate.destinations.service import client_for
from pulsegate.errors import AlreadyExists, InvalidRequest, NotFound
from pulsegate.freshsales.client import FreshsalesClient, FreshsalesError
from pulsegate.reverse_sync import repository
from pulsegate.reverse_sync.schemas import (
    ItemOut,
    ItemPage,
    RuleIn,
    RuleList,
    RuleOut,
    RunCounts,
    RunList,
    RunOut,
)
from pulsegate.reverse_sync.values import VALUES, Object, Query, match_values
from pulsegate.security import SecretBox

log = structlog.get_logger(__name__)

# Freshsales unavailable this many times in a row: leave the rest of the destination for later.
MAX_UNAVAILABLE = 3
OBJECT_OF_TARGET: dict[str, Object] = {"contact": "user", "sales_account": "account"}


# --- rules -------------------------------------------------------------------------------


async def create_rule(session: AsyncSession, workspace_id: uuid.UUID, body: RuleIn) -> RuleOut:
    destination = await session.get(Destination, (workspace_id, body.destination_id))
    if destination is None:
        raise InvalidRequest(f"no destination {body.destination_id}", code="unknown_destination")
    source = VALUES.get(body.source)
    if source is None:
        raise InvalidRequest(
            f"no source {body.source!r}", code="unknown_source", details=sorted(VALUES)
        )
    entity_type = OBJECT_OF_TARGET[body.target]
    if entity_type not in source.objects:
        raise InvalidRequest(
            f"{body.source} has no value per {entity_type}; it fills "
            + " or ".join(t for t, o in OBJECT_OF_TARGET.items() if o in source.objects),
            code="source_not_for_target",
        )
    if source.needs_key != (body.key is not None):
        raise InvalidRequest(
            f"{body.source} "
            + ("needs the `key` of a custom field" if source.needs_key else "takes no `key`"),
            code="invalid_key",
        )
    if body.key is not None:
        kind = "metric" if body.source == "custom_metric" else "dimension"
        defined = await session.scalar(
            select(CustomField.id).where(
                CustomField.workspace_id == workspace_id,
                CustomField.object == entity_type,
                CustomField.kind == kind,
                CustomField.key == body.key,
            )
        )
        if defined is None:
            raise InvalidRequest(
                f"no {entity_type} custom {kind} {body.key!r}", code="unknown_field"
            )
    rule = ReverseSyncRule(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        destination_id=body.destination_id,
        source=body.source,
        key=body.key,
        target=body.target,
        field=body.field,
        match_field=_match_field(body),
    )
    return RuleOut.model_validate(await repository.add_rule(session, rule), from_attributes=True)


def _match_field(body: RuleIn) -> str:
    if body.target == "contact":
        if body.match_field not in (None, "emails"):
            raise InvalidRequest("contacts are matched by email", code="invalid_match_field")
        return "emails"
    match_field = body.match_field or "name"
    if match_field != "name" and not match_field.startswith("cf_"):
        raise InvalidRequest(
            "sales accounts are matched by name or by a cf_* field holding the account id",
            code="invalid_match_field",
        )
    return match_field


async def list_rules(session: AsyncSession, workspace_id: uuid.UUID) -> RuleList:
    rules = await repository.list_rules(session, workspace_id)
    return RuleList(items=[RuleOut.model_validate(r, from_attributes=True) for r in rules])


async def delete_rule(session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    if not await repository.delete_rule(session, workspace_id, rule_id):
        raise NotFound(f"no reverse-sync rule {rule_id}")


async def list_runs(session: AsyncSession, workspace_id: uuid.UUID, *, limit: int) -> RunList:
    runs = await repository.list_runs(session, workspace_id, limit=limit)
    return RunList(items=[RunOut.model_validate(r, from_attributes=True) for r in runs])


async def list_items(
    session: AsyncSession, workspace_id: uuid.UUID, run_id: int, *, cursor: str | None, limit: int
) -> ItemPage:
    if await repository.get_run(session, workspace_id, run_id) is None:
        raise NotFound(f"no reverse-sync run {run_id}")
    rows = await repository.list_items(
        session, run_id, after_id=decode_id_cursor(cursor) if cursor else None, limit=limit + 1
    )
    page = rows[:limit]
    return ItemPage(
        items=[ItemOut.model_validate(row, from_attributes=True) for row in page],
        next_cursor=encode_id_cursor(page[-1].id) if len(rows) > limit else None,
    )


# --- runs --------------------------------------------------------------------------------


@dataclass
class Change:
    """The changed values of one Freshsales record: one upsert."""

    target: str
    match_field: str
    match_value: str
    entity_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    pushed: list[dict[str, Any]] = field(default_factory=list)  # rows for reverse_sync_values

    @property
    def unique_identifier(self) -> dict[str, str]:
        return {self.match_field: self.match_value}

    def payload(self) -> dict[str, Any]:
        payload = {k: v for k, v in self.fields.items() if not k.startswith("cf_")}
        custom = {k: v for k, v in self.fields.items() if k.startswith("cf_")}
        if custom:
            payload["custom_field"] = custom
        return payload


@dataclass
class ReverseSync:
    engine: AsyncEngine
    secret_box: SecretBox
    clock: Callable[[], datetime] | None = None  # simulated time in tests
    max_wait: float = 0.0  # seconds a run may wait for the rate budget before deferring

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    async def run(self, workspace_id: uuid.UUID, *, trigger: str) -> RunOut:
        lock = zlib.crc32(f"pulsegate-reverse-sync:{workspace_id}".encode())
        async with advisory_lock(self.engine, lock) as taken:
            if not taken:
                raise AlreadyExists(
                    "a reverse sync of this workspace is running", code="run_in_progress"
                )
            return await self._run(workspace_id, trigger)

    async def run_all(self, *, trigger: str) -> list[RunOut]:
        """Every workspace with rules, one after another (the nightly job)."""
        async with self.engine.connect() as connection:
            workspaces = await repository.workspaces_with_rules(connection)
        runs = []
        for workspace_id in workspaces:
            try:
                runs.append(await self.run(workspace_id, trigger=trigger))
            except AlreadyExists:
                log.info("reverse_sync.skipped", workspace_id=str(workspace_id))
        return runs

    async def _run(self, workspace_id: uuid.UUID, trigger: str) -> RunOut:
        started = self.now()
        async with self.engine.begin() as connection:
            run_id = await repository.start_run(connection, workspace_id, trigger, started)
        counts: Counter[str] = Counter()
        status, error = "succeeded", None
        try:
            async with self.engine.connect() as connection:
                plans = await self._plan(connection, workspace_id, started, counts)
            for destination, changes in plans:
                if not await self._push(destination, changes, run_id, counts):
                    status = "incomplete"
            if counts["failed"]:
                status = "incomplete"
        except Exception as failure:  # recorded on the run, which an operator will look at
            log.exception("reverse_sync.failed", run_id=run_id)
            status, error = "failed", f"{type(failure).__name__}: {failure}"
        finished = self.now()
        async with self.engine.begin() as connection:
            await repository.finish_run(
                connection,
                workspace_id,
                run_id,
                status=status,
                counts=dict(counts),
                error=error,
                now=finished,
            )
        log.info("reverse_sync.done", run_id=run_id, status=status, **counts)
        return RunOut(
            id=run_id,
            trigger=trigger,
            status=status,
            started_at=started,
            finished_at=finished,
            counts=RunCounts(**counts),
            error=error,
        )

    async def _plan(
        self,
        connection: AsyncConnection,
        workspace_id: uuid.UUID,
        as_of: datetime,
        counts: Counter[str],
    ) -> list[tuple[Any, list[Change]]]:
        """The changed values of every rule, grouped per destination and record."""
        destinations: dict[uuid.UUID, Any] = {}
        changes: dict[uuid.UUID, dict[tuple[str, str, str], Change]] = {}
        matches: dict[tuple[str, str], dict[str, str]] = {}
        for rule, destination in await repository.rules_to_run(connection, workspace_id):
            destinations[destination.id] = destination
            entity_type = OBJECT_OF_TARGET[rule.target]
            source = VALUES.get(rule.source)
            if source is None:  # a source that is no longer registered
                log.warning("reverse_sync.unknown_source", rule_id=str(rule.id))
                continue
            query = Query(workspace_id, entity_type, rule.key, as_of)
            values = await source.read(connection, query)
            if (entity_type, rule.match_field) not in matches:
                matches[entity_type, rule.match_field] = await match_values(
                    connection, workspace_id, entity_type, rule.match_field
                )
            found = matches[entity_type, rule.match_field]
            pushed = await repository.pushed_values(connection, rule.workspace_id, rule.id)
            for entity_id, value in values.items():
                match_value = found.get(entity_id)
                if match_value is None:
                    counts["unmatched"] += 1
                    continue
                counts["considered"] += 1
                if pushed.get(entity_id) == (match_value, value):
                    counts["unchanged"] += 1
                    continue
                key = (rule.target, rule.match_field, match_value)
                change = changes.setdefault(destination.id, {}).setdefault(
                    key, Change(rule.target, rule.match_field, match_value, entity_id)
                )
                change.fields[rule.field] = value
                change.pushed.append(
                    {
                        "workspace_id": rule.workspace_id,
                        "rule_id": rule.id,
                        "entity_id": entity_id,
                        "match_value": match_value,
                        "value": value,
                    }
                )
        return [
            (destinations[d], sorted(group.values(), key=lambda c: (c.target, c.match_value)))
            for d, group in changes.items()
        ]

    async def _push(
        self, destination: Any, changes: Sequence[Change], run_id: int, counts: Counter[str]
    ) -> bool:
        """Send the changes; False when some were left for the next run."""
        client = client_for(destination, self.engine, self.secret_box, clock=self.clock)
        unavailable = 0
        try:
            for n, change in enumerate(changes):
                try:
                    await self._write(client, change)
                except FreshsalesError as error:
                    if error.kind == "throttled":
                        counts["deferred"] += sum(len(c.pushed) for c in changes[n:])
                        return False
                    await self._record(destination, run_id, change, error.message)
                    counts["failed"] += len(change.pushed)
                    unavailable = unavailable + 1 if error.kind == "retryable" else 0
                    if unavailable >= MAX_UNAVAILABLE:
                        counts["deferred"] += sum(len(c.pushed) for c in changes[n + 1 :])
                        return False
                    continue
                unavailable = 0
                await self._record(destination, run_id, change, None)
                counts["sent"] += len(change.pushed)
                counts["requests"] += 1
        finally:
            await client.aclose()
        return True

    async def _write(self, client: FreshsalesClient, change: Change) -> None:
        """One upsert, waiting for the budget when the wait is short enough."""
        while True:
            try:
                if change.target == "contact":
                    await client.upsert_contact(email=change.match_value, contact=change.payload())
                else:
                    await client.upsert_sales_account(
                        unique=change.unique_identifier, account=change.payload()
                    )
                return
            except FreshsalesError as error:
                wait = error.retry_after if error.retry_after is not None else 60.0
                if error.kind != "throttled" or wait > self.max_wait:
                    raise
                await asyncio.sleep(wait)

    async def _record(
        self, destination: Any, run_id: int, change: Change, error: str | None
    ) -> None:
        now = self.now()
        async with self.engine.begin() as connection:
            await repository.add_item(
                connection,
                {
                    "workspace_id": destination.workspace_id,
                    "run_id": run_id,
                    "destination_id": destination.id,
                    "target": change.target,
                    "entity_id": change.entity_id,
                    "unique_identifier": change.unique_identifier,
                    "fields": change.fields,
                    "status": "failed" if error else "sent",
                    "error": error,
                    "at": now,
                },
            )
            if error is None:
                await repository.record_pushed(connection, change.pushed, now)
