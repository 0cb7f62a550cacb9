"""SQL of the session sweep: its queue (`session_dirty`) and rebuilding a key's sessions.

The sweep works on many keys at once: each statement takes the claimed keys, each with a time,
as one JSON document (`_KEYS`), so a batch of keys costs a handful of round trips, not a few per
key. (As parallel arrays, psycopg dumped every element in Python: a quarter of the sweep's
time.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from pulsegate.projection.attribution import resolve_sql
from pulsegate.sessions.sessionize import Session, Usage


@dataclass(frozen=True, slots=True)
class DirtyKey:
    workspace_id: uuid.UUID
    session_key: str
    since: datetime


@dataclass(frozen=True, slots=True)
class KeyWindow:
    """Rebuild the key's sessions from `start` on: the start of the session a new event joins,
    whose chain began at `chain`; or the new event itself, which starts a chain (`chain` None).

    `latest` is that session as stored when every new event comes after it and it is the
    key's last: the rebuild can then go on from it (`read_from` its last event) instead of
    reading all its events again.
    """

    workspace_id: uuid.UUID
    session_key: str
    start: datetime
    chain: datetime | None = None
    latest: Session | None = None

    @property
    def read_from(self) -> datetime:
        return self.latest.ended_at if self.latest is not None else self.start


async def claim_dirty_keys(
    connection: AsyncConnection, limit: int, *, skip: Sequence[uuid.UUID] = ()
) -> list[DirtyKey]:
    """Take keys off the queue, oldest first, except those of the workspaces in `skip`.
    Deleted in the caller's transaction: a failed sweep puts them back by rolling back, and a
    concurrent sweep skips the ones taken.

    The locked rows are collected once and deleted by their `ctid`, a plan no estimate can
    change. As a join, with the queue's statistics saying it held one row, the planner ran
    the locking subquery again for every queued key (a claim of 500 took 10 s).
    """
    rows = await _tuples(
        connection,
        """
        DELETE FROM session_dirty
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM session_dirty
            WHERE workspace_id <> ALL(%(skip)s::uuid[])
            ORDER BY since LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
        RETURNING workspace_id, session_key, since
        """,
        {"limit": limit, "skip": list(skip)},
    )
    return [DirtyKey(*row) for row in rows]


# The rows of `_keys`' document, as a table `d(w, k, t, i)`: `i` is the key's place in the
# list given, which is how a statement's rows name their key (see `find_windows`).
_KEYS = "jsonb_to_recordset(%(keys)s::jsonb) AS d(w uuid, k text, t timestamptz, i int)"


def _keys(keys: Sequence[DirtyKey | KeyWindow], times: Sequence[datetime]) -> dict[str, str]:
    document = orjson.dumps(
        [
            {"w": key.workspace_id, "k": key.session_key, "t": at, "i": place}
            for place, (key, at) in enumerate(zip(keys, times, strict=True))
        ]
    )
    return {"keys": document.decode()}


async def find_windows(
    connection: AsyncConnection, keys: Sequence[DirtyKey], *, session_timeout: timedelta
) -> list[KeyWindow]:
    """Where each key's rebuild starts.

    A new event at `since` joins the latest session that started at or before it when it lies
    inside that session or within the timeout after its end; the rebuild then starts at that
    session's start. Nothing before it can change: events before that start are as they were,
    and they alone decided that a session starts there (a gap over the timeout, or a 24-hour
    cut counted from the previous session's start). Otherwise it starts at `since` itself:
    everything before lies behind a gap longer than the timeout, which no later event can
    bridge. Starting at the session, not at its chain's start, bounds a rebuild by 24 hours
    of the key's events however long the key has been active without a pause.

    The common case, a live user's next events, is narrower still: every new event comes
    after the end of the session it joins, and no session of the key starts later. That
    session is returned whole (`KeyWindow.latest`), for the sweep to go on from.

    Each row names its key by its place in `keys` (`d.i`), not by workspace and key: reading
    a uuid and a text back for every key, and hashing and comparing them in Python (a
    `uuid.UUID` does both in Python code), was a tenth of the sweep's Python time.
    """
    rows = await _tuples(
        connection,
        f"""
        SELECT d.i, COALESCE(joined.started_at, d.since) AS start,
               joined.chain_started_at AS chain, joined.ended_at, joined.first_message_id,
               joined.user_id, joined.group_id, joined.events, joined.duration_ms,
               joined.modules::text, joined.features::text,
               d.since > joined.ended_at AND NOT EXISTS (
                   SELECT 1 FROM sessions later
                   WHERE later.workspace_id = d.w AND later.session_key = d.k
                     AND later.started_at > d.since) AS goes_on
        FROM (SELECT d.w, d.k, d.i, d.t AS since FROM {_KEYS}) AS d
        LEFT JOIN LATERAL (
            SELECT latest.*
            FROM (SELECT s.started_at, s.ended_at, s.chain_started_at, s.first_message_id,
                         s.user_id, s.group_id, s.events, s.duration_ms, s.modules, s.features
                  FROM sessions s
                  WHERE s.workspace_id = d.w AND s.session_key = d.k AND s.started_at <= d.since
                  ORDER BY s.started_at DESC LIMIT 1) AS latest
            WHERE latest.ended_at + %(timeout)s >= d.since
        ) AS joined ON true
        """,
        {**_keys(keys, [key.since for key in keys]), "timeout": session_timeout},
    )
    return [_window(keys[row[0]], row) for row in rows]


def _window(key: DirtyKey, row: tuple[Any, ...]) -> KeyWindow:
    """A row of `find_windows`, by position, for its key. The joined session, when the key
    goes on from it, as `insert_sessions` stored it: its usage lists back into dicts (read as
    text and parsed by orjson, several times faster than psycopg's json module)."""
    _, start, chain, ended, first, user, group, events, ms, modules, features, goes_on = row
    latest = None
    if goes_on:
        latest = Session(
            started_at=start,
            chain_started_at=chain,
            first_message_id=first,
            ended_at=ended,
            user_id=user,
            group_id=group,
            events=events,
            duration_ms=ms,
            modules={u["module"]: Usage(u["ms"], u["events"]) for u in orjson.loads(modules)},
            features={u["feature"]: Usage(u["ms"], u["events"]) for u in orjson.loads(features)},
        )
    return KeyWindow(key.workspace_id, key.session_key, start, chain, latest)


async def delete_sessions_from(connection: AsyncConnection, windows: Sequence[KeyWindow]) -> None:
    await connection.exec_driver_sql(
        f"""
        DELETE FROM sessions WHERE (workspace_id, id) IN (
            SELECT d.w, found.id
            FROM {_KEYS}
            CROSS JOIN LATERAL (
                SELECT s.id FROM sessions s
                WHERE s.workspace_id = d.w AND s.session_key = d.k AND s.started_at >= d.t
                OFFSET 0
            ) AS found
        )
        """,
        _keys(windows, [window.start for window in windows]),
    )


async def events_from(connection: AsyncConnection, windows: Sequence[KeyWindow]) -> Sequence[Any]:
    """The windows' events from each one's `read_from`: each row names its window by its place
    in `windows` (as `find_windows`' rows do), its events in session order (the sweep unpacks
    the columns by position: `sweep._session_events`).

    `COLLATE "C"` orders message ids by code point, the same order everywhere. Each key is an
    index range (a lateral kept unflattened, as in `projection.attribution.resolve_sql`:
    after a replay the statistics said `sessions` and `events` were empty, and the joins
    planned for that turned the sweep from 56 s into 388 s).
    """
    return await _tuples(
        connection,
        f"""
        SELECT d.i, e.timestamp, e.message_id, e.type, e.module, e.category, e.name,
               e.user_id, e.account_id
        FROM {_KEYS}
        CROSS JOIN LATERAL (
            SELECT * FROM events e
            WHERE e.workspace_id = d.w AND e.session_key = d.k AND e.timestamp >= d.t
            OFFSET 0
        ) AS e
        ORDER BY d.i, e.timestamp, e.message_id COLLATE "C"
        """,
        _keys(windows, [window.read_from for window in windows]),
    )


async def _tuples(
    connection: AsyncConnection, sql: str, parameters: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """The rows of a statement run on the psycopg connection under the engine's, in its
    transaction: plain tuples, as SQLAlchemy's result rows cost a sixth of a sweep of new
    keys (and find_windows' a sixth of a sweep of live ones)."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None  # a checked-out connection has its psycopg connection
    async with driver.cursor() as cursor:
        await cursor.execute(sql, parameters)
        rows: list[tuple[Any, ...]] = await cursor.fetchall()
    return rows


def _usage(usage: dict[str | None, Usage], name: str) -> list[dict[str, Any]]:
    """The usage in the stored order: no module first, then by name."""
    named = sorted(key for key in usage if key is not None)
    keys = [None, *named] if None in usage else named
    return [{name: key, "ms": usage[key].ms, "events": usage[key].events} for key in keys]


async def requeue_dirty_keys(connection: AsyncConnection, keys: Sequence[DirtyKey]) -> None:
    """Put claimed keys back (their workspace is busy: being replayed)."""
    await connection.exec_driver_sql(
        f"""
        INSERT INTO session_dirty (workspace_id, session_key, since)
        SELECT d.w, d.k, d.t FROM {_KEYS}
        ON CONFLICT (workspace_id, session_key) DO UPDATE
        SET since = LEAST(session_dirty.since, EXCLUDED.since)
        """,
        _keys(keys, [key.since for key in keys]),
    )


_INSERT_SESSIONS = """
INSERT INTO sessions (workspace_id, session_key, started_at, ended_at, chain_started_at,
                      first_message_id, user_id, group_id, events, duration_ms,
                      modules, features, closed, resolved_user_id, resolved_account_id)
SELECT s.w, s.k, s.started, s.ended, s.chain, s.first, s.u, s.g, s.n, s.ms, s.modules,
       s.features, s.ended + %(timeout)s < now(), resolved.user_id, resolved.account_id
FROM jsonb_to_recordset(%(rows)s::jsonb)
     AS s(w uuid, k text, started timestamptz, ended timestamptz, chain timestamptz,
          first text, u text, g text, n int, ms bigint, modules jsonb, features jsonb)
CROSS JOIN LATERAL (SELECT s.w AS workspace_id) AS owner""" + resolve_sql(
    table="owner", own_user="s.u", own_key="s.k", own_account="s.g"
)


async def insert_sessions(
    connection: AsyncConnection,
    rows: Sequence[tuple[uuid.UUID, str, Session]],
    *,
    session_timeout: timedelta,
) -> None:
    """Insert rebuilt sessions, attributed (pulsegate.projection.attribution); one idle past
    the timeout (by the database clock) is closed.

    The batch goes as one JSON document: binding a dozen parallel arrays made psycopg adapt
    every element in Python, which took most of the sweep's time.
    """
    if not rows:
        return
    document = orjson.dumps(
        [
            {
                "w": workspace_id,
                "k": key,
                "started": s.started_at,
                "ended": s.ended_at,
                "chain": s.chain_started_at,
                "first": s.first_message_id,
                "u": s.user_id,
                "g": s.group_id,
                "n": s.events,
                "ms": s.duration_ms,
                "modules": _usage(s.modules, "module"),
                "features": _usage(s.features, "feature"),
            }
            for workspace_id, key, s in rows
        ]
    ).decode()
    await connection.exec_driver_sql(
        _INSERT_SESSIONS, {"rows": document, "timeout": session_timeout}
    )


async def close_idle_sessions(connection: AsyncConnection, *, session_timeout: timedelta) -> int:
    """Read through the partial index of open sessions: costs the open ones, not all."""
    result = await connection.exec_driver_sql(
        "UPDATE sessions SET closed = true WHERE NOT closed AND ended_at < now() - %(timeout)s",
        {"timeout": session_timeout},
    )
    return result.rowcount
