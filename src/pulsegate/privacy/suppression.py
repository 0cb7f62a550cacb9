"""The suppression list: ids whose later messages are acknowledged and stored nowhere.

An erased person keeps arriving from the SDKs (a browser's queue, a backend's retries), so
their ids go on this list: a message naming one is answered 200, as Segment does (an SDK that
got an error would retry it forever), counted in `/metrics`, and dropped. The list holds
salted hashes, never the ids: `sha256(workspace id, kind, id)`.

Ingest reads the list through `SuppressionList`, a per-process cache of each workspace's
hashes (most workspaces have none: one dict lookup a request), dropped when a change is
announced (pulsegate.workspaces.changes) and otherwise kept `ttl` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.ingest.repository import InboundRow

# Which fields of a message name whom, by the kind of id each holds.
SUBJECT_FIELDS = (("userId", "user"), ("anonymousId", "user"), ("previousId", "user"))
ACCOUNT_FIELDS = ("groupId",)


def subject_hash(workspace_id: uuid.UUID, kind: str, value: str) -> str:
    """`kind` is "user" (a userId or anonymousId: one namespace, as identities stitch them)
    or "account" (a groupId)."""
    return hashlib.sha256(f"{workspace_id}\x00{kind}\x00{value}".encode()).hexdigest()


def hashes_of_message(workspace_id: uuid.UUID, message: dict[str, Any]) -> Iterable[str]:
    for field, kind in SUBJECT_FIELDS:
        value = message.get(field)
        if isinstance(value, str) and value:
            yield subject_hash(workspace_id, kind, value)
    group_id = message.get("groupId")
    context = message.get("context")
    context_group = context.get("groupId") if isinstance(context, dict) else None
    for value in (group_id, context_group):
        if isinstance(value, str) and value:
            yield subject_hash(workspace_id, "account", value)


class SuppressionList:
    def __init__(self, engine: AsyncEngine, *, ttl: float = 30.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._cache: dict[uuid.UUID, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    def clear(self) -> None:
        self._cache.clear()

    async def hashes(self, workspace_id: uuid.UUID) -> frozenset[str]:
        cached = self._cache.get(workspace_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._lock:
            async with self._engine.connect() as connection:
                result = await connection.execute(
                    text("SELECT id_hash FROM suppressions WHERE workspace_id = :w"),
                    {"w": workspace_id},
                )
                found = frozenset(row.id_hash for row in result)
            self._cache[workspace_id] = (time.monotonic() + self._ttl, found)
            return found

    async def split(
        self, workspace_id: uuid.UUID, rows: list[InboundRow]
    ) -> tuple[list[InboundRow], list[InboundRow]]:
        """The rows that name no suppressed id, and those that do (acknowledged, dropped).
        Hashing is skipped while the workspace suppresses nothing, as most do."""
        hashes = await self.hashes(workspace_id)
        if not hashes:
            return rows, []
        kept: list[InboundRow] = []
        dropped: list[InboundRow] = []
        for row in rows:
            named = hashes_of_message(workspace_id, row.message)
            (dropped if any(h in hashes for h in named) else kept).append(row)
        return kept, dropped
