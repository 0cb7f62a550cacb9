"""Carrying out an erasure: every store that holds the subject, each in short transactions.

A subject is a user (their userId, their anonymous ids, and every id the identity graph ties
to them) or an account (its groupId). In order:

1. the hot log, a partition at a time (each a transaction of its own), with the projector's
   notes and failures about the deleted messages and the deliveries made from them;
2. the projections (events, sessions, users or accounts, identities, metrics, health scores,
   reverse-sync values), while the workspace's projection is paused, so that a batch read
   before step 1 cannot bring the subject back after this step;
3. refused messages whose bytes name one of the ids (the raw bytes are all there is);
4. the archive: every object of the workspace is read, and one that holds the subject is
   written again without it, read back and verified, and its manifest row updated.

When asked, a user's contacts in the workspace's Freshsales destinations are deleted first.

The suppression list (pulsegate.privacy.suppression) already holds the ids when this runs, so
nothing new arrives for the subject meanwhile. Running it twice deletes nothing the second
time: an erasure is idempotent. Returns the number of rows (or archived lines) per store.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pulsegate.projection import service as projection_service
from pulsegate.storage import archive
from pulsegate.storage.stores import ArchiveStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Subject:
    kind: str  # "user" or "account"
    ids: tuple[str, ...]  # a user's ids (user id first), or the account id

    def names(self, message: dict[str, Any]) -> bool:
        """Whether a stored message is about the subject (the predicate of `_LOG_MATCH`)."""
        if self.kind == "user":
            return any(message.get(field) in self.ids for field in USER_FIELDS)
        context = message.get("context")
        context_group = context.get("groupId") if isinstance(context, dict) else None
        return message.get("groupId") in self.ids or context_group in self.ids


USER_FIELDS = ("userId", "anonymousId", "previousId")

_LOG_MATCH = {
    "user": "(message->>'userId' = ANY(:ids) OR message->>'anonymousId' = ANY(:ids) "
    "OR message->>'previousId' = ANY(:ids))",
    "account": "(message->>'groupId' = ANY(:ids) OR message #>> '{context,groupId}' = ANY(:ids))",
}

# Per subject kind: (store, statement), all scoped by :w, each served by an index that leads
# with workspace_id and the subject's column.
_PROJECTIONS = {
    "user": [
        (
            "events",
            "DELETE FROM events WHERE workspace_id = :w "
            "AND (session_key = ANY(:ids) OR resolved_user_id = ANY(:ids))",
        ),
        (
            "sessions",
            "DELETE FROM sessions WHERE workspace_id = :w "
            "AND (session_key = ANY(:ids) OR resolved_user_id = ANY(:ids))",
        ),
        (
            "session_dirty",
            "DELETE FROM session_dirty WHERE workspace_id = :w AND session_key = ANY(:ids)",
        ),
        ("users", "DELETE FROM users WHERE workspace_id = :w AND user_id = ANY(:ids)"),
        (
            "identities",
            "DELETE FROM identities WHERE workspace_id = :w "
            "AND (alias = ANY(:ids) OR user_id = ANY(:ids))",
        ),
        (
            "metric_values",
            "DELETE FROM metric_values WHERE workspace_id = :w AND object = 'user' "
            "AND entity_id = ANY(:ids)",
        ),
        (
            "replay_kept",
            "DELETE FROM replay_kept WHERE workspace_id = :w AND object = 'user' "
            "AND entity_id = ANY(:ids)",
        ),
    ],
    "account": [
        (
            "events",
            "DELETE FROM events WHERE workspace_id = :w AND resolved_account_id = ANY(:ids)",
        ),
        (
            "sessions",
            "DELETE FROM sessions WHERE workspace_id = :w AND resolved_account_id = ANY(:ids)",
        ),
        ("accounts", "DELETE FROM accounts WHERE workspace_id = :w AND account_id = ANY(:ids)"),
        (
            "users",  # the users stay; their tie to the erased account goes
            "UPDATE users SET fields = fields - 'account_id' "
            "WHERE workspace_id = :w AND account_id = ANY(:ids)",
        ),
        (
            "health_scores",
            "DELETE FROM health_scores WHERE workspace_id = :w AND account_id = ANY(:ids)",
        ),
        (
            "metric_values",
            "DELETE FROM metric_values WHERE workspace_id = :w AND object = 'account' "
            "AND entity_id = ANY(:ids)",
        ),
        (
            "replay_kept",
            "DELETE FROM replay_kept WHERE workspace_id = :w AND object = 'account' "
            "AND entity_id = ANY(:ids)",
        ),
    ],
}
_REVERSE_SYNC = [
    (
        "reverse_sync_items",
        "DELETE FROM reverse_sync_items WHERE workspace_id = :w AND entity_id = ANY(:ids)",
    ),
    (
        "reverse_sync_values",
        "DELETE FROM reverse_sync_values WHERE workspace_id = :w AND entity_id = ANY(:ids)",
    ),
]


async def known_ids(engine: AsyncEngine, workspace_id: uuid.UUID, subject: Subject) -> Subject:
    """A user's ids with every alias the identity graph ties to them (anonymous ids, former
    ids); an account as it is."""
    if subject.kind != "user":
        return subject
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT alias FROM identities WHERE workspace_id = :w "
                "AND (user_id = ANY(:ids) OR alias = ANY(:ids))"
            ),
            {"w": workspace_id, "ids": list(subject.ids)},
        )
        aliases = [row.alias for row in result]
    return Subject("user", tuple(dict.fromkeys([*subject.ids, *aliases])))


# Deletes the person's contacts in the workspace's destinations, given their ids and emails;
# returns how many (pulsegate.destinations.service.forget_contacts).
ForgetContacts = Callable[[Sequence[str], Sequence[str]], Awaitable[int]]


async def erase(
    engine: AsyncEngine,
    workspace_id: uuid.UUID,
    subject: Subject,
    *,
    store: ArchiveStore | None,
    forget_contacts: ForgetContacts | None = None,
) -> dict[str, int]:
    """With `forget_contacts` (a user), their CRM contacts go first: if that fails, nothing
    else has been deleted yet, and the emails to find them by are still in `users`."""
    subject = await known_ids(engine, workspace_id, subject)
    counts: dict[str, int] = {}
    params = {"w": workspace_id, "ids": list(subject.ids)}
    if forget_contacts is not None and subject.kind == "user":
        async with engine.connect() as connection:
            emails = [
                row.email
                for row in await connection.execute(
                    text(
                        "SELECT fields->'email'->>'v' AS email FROM users "
                        "WHERE workspace_id = :w AND user_id = ANY(:ids)"
                    ),
                    params,
                )
                if row.email
            ]
        counts["destination_contacts"] = await forget_contacts(subject.ids, emails)
    async with projection_service.workspace_paused(engine, workspace_id):
        await _erase_log(engine, workspace_id, subject, counts)
        async with engine.begin() as connection:
            for store_name, statement in [*_PROJECTIONS[subject.kind], *_REVERSE_SYNC]:
                counts[store_name] = await _run(connection, statement, params)
    counts["rejected_messages"] = await _erase_refused(engine, workspace_id, subject)
    counts["archive"] = await _erase_archive(engine, workspace_id, subject, store) if store else 0
    log.info("privacy.erasure.done", workspace_id=str(workspace_id), counts=counts)
    return counts


async def _run(connection: AsyncConnection, statement: str, params: dict[str, Any]) -> int:
    result = await connection.execute(text(statement), params)
    return int(result.rowcount)


async def _erase_log(
    engine: AsyncEngine, workspace_id: uuid.UUID, subject: Subject, counts: dict[str, int]
) -> None:
    """Partition by partition; the notes, failures and deliveries of each deleted message."""
    async with engine.connect() as connection:
        result = await connection.exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'inbound_messages'::regclass ORDER BY c.relname"
        )
        partitions = [row[0] for row in result]
    deleted: list[int] = []
    params = {"w": workspace_id, "ids": list(subject.ids)}
    for partition in partitions:
        async with engine.begin() as connection:
            result = await connection.execute(
                text(
                    f"DELETE FROM {partition} WHERE workspace_id = :w "
                    f"AND {_LOG_MATCH[subject.kind]} RETURNING id"
                ),
                params,
            )
            ids = [row.id for row in result]
            if ids:
                by_id = {"w": workspace_id, "deleted": ids, "ids": list(subject.ids)}
                for store_name in ("projection_notes", "projection_failures"):
                    counts[store_name] = counts.get(store_name, 0) + await _run(
                        connection,
                        f"DELETE FROM {store_name} WHERE workspace_id = :w "
                        "AND inbound_message_id = ANY(:deleted)",
                        by_id,
                    )
                counts["deliveries"] = counts.get("deliveries", 0) + await _run(
                    connection,
                    "DELETE FROM deliveries WHERE workspace_id = :w "
                    "AND inbound_message_id = ANY(:deleted)",
                    by_id,
                )
        deleted += ids
    counts["inbound_messages"] = len(deleted)
    counts.setdefault("projection_notes", 0)
    counts.setdefault("projection_failures", 0)
    counts.setdefault("deliveries", 0)


async def _erase_refused(engine: AsyncEngine, workspace_id: uuid.UUID, subject: Subject) -> int:
    """Refused messages are bytes, perhaps not even JSON: those holding one of the ids as a
    JSON string go."""
    needles = [json.dumps(value).encode() for value in subject.ids]
    async with engine.begin() as connection:
        return await _run(
            connection,
            "DELETE FROM rejected_messages WHERE workspace_id = :w AND EXISTS ("
            "SELECT 1 FROM unnest(CAST(:needles AS bytea[])) AS n(bytes) "
            "WHERE position(n.bytes IN raw_body) > 0)",
            {"w": workspace_id, "needles": needles},
        )


async def _erase_archive(
    engine: AsyncEngine, workspace_id: uuid.UUID, subject: Subject, store: ArchiveStore
) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT source_id, day, key, messages FROM archived_objects "
                "WHERE workspace_id = :w ORDER BY day, source_id"
            ),
            {"w": workspace_id},
        )
        objects = list(result)
    removed = 0
    for found in objects:
        with tempfile.TemporaryDirectory(prefix="pulsegate-erasure-") as scratch:
            path = Path(scratch) / "object.gz"
            kept, dropped = await asyncio.to_thread(_rewrite, store, found.key, subject, path)
            if not dropped:
                continue
            digest, size = await asyncio.to_thread(archive.file_digest, path)
            await asyncio.to_thread(store.put, found.key, path)
        await asyncio.to_thread(archive.verify, store, found.key, messages=kept, sha256=digest)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE archived_objects SET messages = :messages, bytes = :bytes, "
                    "sha256 = :sha256 WHERE workspace_id = :w AND day = :day "
                    "AND source_id = :source_id"
                ),
                {
                    "messages": kept,
                    "bytes": size,
                    "sha256": digest,
                    "w": workspace_id,
                    "day": found.day,
                    "source_id": found.source_id,
                },
            )
        removed += dropped
        log.info("privacy.archive.rewritten", key=found.key, removed=dropped, kept=kept)
    return removed


def _rewrite(store: ArchiveStore, key: str, subject: Subject, path: Path) -> tuple[int, int]:
    """The object's lines without the subject's, gzipped into `path` as the archive writes
    them; return (kept, dropped)."""
    kept = dropped = 0
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as out:
        for line in _lines(store, key):
            if subject.names(json.loads(line)):
                dropped += 1
                continue
            out.write(line + b"\n")
            kept += 1
    return kept, dropped


def _lines(store: ArchiveStore, key: str) -> Iterator[bytes]:
    return (line for line in archive.iter_lines(store, key) if line)
