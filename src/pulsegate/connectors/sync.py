"""Connector runs: pull the source, match each record, write what changed, record it all.

A run of one connector, for each object its mappings fill:
1. the source's catalog is read first: a mapping whose field the source no longer has is
   reported and skipped, so a removed CRM field never blanks every dimension;
2. records are pulled page by page: since the object's `updated_at` watermark when the source
   can (Freshsales filtered search), in full otherwise, and in full once a week (`FULL_EVERY`)
   because offset pagination can skip a record that shifts pages while a pull runs;
3. each page is matched and written in one transaction, with the run's counts and progress:
   - a record finds its account by a field holding the pulsegate account id (exact text) or
     by name, its user by email (any case) or by external id; none or several is `unmatched`;
   - values are coerced to their field's type; one that does not fit is `invalid` and the
     record's other values still land;
   - dimensions keep the latest value (merged like traits, newest per field); metrics write
     today's value (in `PULSEGATE_TIMEZONE`) and keep the days before;
   - only changes are written and counted as `updated`, so a second run the same day changes
     nothing, and a run cut off halfway is simply run again;
4. after an incremental pull, metrics of records that did not change are carried forward to
   today (their value still holds), so history has no gaps;
5. the watermark moves only when the object's pull completed.

Values written here are marked `connector:<connector id>:<run id>` (`m`), which `pulsegate
replay` keeps. One run per connector at a time (an advisory lock); a run found still `running`
when the next starts was cut off, and is marked failed.
"""

from __future__ import annotations

import asyncio
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.connectors import repository
from pulsegate.connectors.feeds import Feed, FeedUnavailable, Object, Page, Record
from pulsegate.connectors.kinds import open_feed
from pulsegate.connectors.landing import Landing, write_changes
from pulsegate.connectors.matching import match_keys, read_values
from pulsegate.connectors.schemas import ConnectorRunOut, MappingOut, MatchIn
from pulsegate.db.engine import advisory_lock
from pulsegate.errors import AlreadyExists, NotFound
from pulsegate.security import SecretBox

log = structlog.get_logger(__name__)

FULL_EVERY = timedelta(days=7)


def object_of(mapping: MappingOut) -> Object:
    return "account" if mapping.target.startswith("account") else "user"


@dataclass
class _Run:
    connector: Any  # the connectors row
    id: int
    trigger: str
    full: bool
    started: datetime
    counts: Counter[str] = field(default_factory=Counter)
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def mark(self) -> str:
        return f"connector:{self.connector.id}:{self.id}"

    @property
    def t(self) -> int:
        return int(self.started.timestamp() * 1_000_000)


@dataclass
class ConnectorSync:
    engine: AsyncEngine
    secret_box: SecretBox
    timezone: str = "UTC"
    clock: Callable[[], datetime] | None = None  # simulated days in tests
    max_wait: float = 900.0  # the longest single wait for Freshsales' rate limit

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    async def run(
        self,
        workspace_id: uuid.UUID,
        connector_id: uuid.UUID,
        *,
        trigger: str,
        full: bool = False,
    ) -> ConnectorRunOut:
        """Run to the end and answer with the finished run."""
        async with advisory_lock(self.engine, _lock_id(connector_id)) as taken:
            if not taken:
                raise _in_progress()
            run = await self._begin(workspace_id, connector_id, trigger, full)
            return await self._execute(run)

    async def start(
        self,
        workspace_id: uuid.UUID,
        connector_id: uuid.UUID,
        *,
        trigger: str,
        full: bool,
        tasks: set[asyncio.Task[Any]],
    ) -> ConnectorRunOut:
        """Start a run in the background and answer with it as soon as it is recorded."""
        begun: asyncio.Future[ConnectorRunOut] = asyncio.get_running_loop().create_future()

        async def work() -> None:
            try:
                async with advisory_lock(self.engine, _lock_id(connector_id)) as taken:
                    if not taken:
                        raise _in_progress()
                    run = await self._begin(workspace_id, connector_id, trigger, full)
                    begun.set_result(_out(run, "running", None, None))
                    await self._execute(run)
            except Exception as error:
                if not begun.done():
                    begun.set_exception(error)
                else:
                    log.exception("connector.run_crashed", connector_id=str(connector_id))

        task = asyncio.create_task(work())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return await begun

    async def run_all(self, *, trigger: str) -> list[ConnectorRunOut]:
        """Every connector, one after another (the nightly job)."""
        async with self.engine.connect() as connection:
            connectors = await repository.all_connector_ids(connection)
        runs = []
        for workspace_id, connector_id in connectors:
            try:
                runs.append(await self.run(workspace_id, connector_id, trigger=trigger))
            except AlreadyExists:
                log.info("connector.skipped", connector_id=str(connector_id), reason="running")
        return runs

    async def _begin(
        self, workspace_id: uuid.UUID, connector_id: uuid.UUID, trigger: str, full: bool
    ) -> _Run:
        started = self.now()
        async with self.engine.begin() as connection:
            connector = await repository.connector_row(connection, workspace_id, connector_id)
            if connector is None:
                raise NotFound(f"no connector {connector_id}")
            full = full or _full_due(connector.state, started)
            row = await repository.start_run(
                connection,
                {
                    "connector_id": connector_id,
                    "workspace_id": workspace_id,
                    "trigger": trigger,
                    "status": "running",
                    "full": full,
                    "started_at": started,
                    "counts": {},
                    "progress": {},
                },
            )
        return _Run(connector=connector, id=row.id, trigger=trigger, full=full, started=started)

    async def _execute(self, run: _Run) -> ConnectorRunOut:
        status, error = "succeeded", None
        source = open_feed(run.connector, self.engine, self.secret_box, clock=self.clock)
        try:
            await self._pull_all(run, source)
        except FeedUnavailable as failure:
            status, error = "failed", str(failure)
        except asyncio.CancelledError:
            await self._finish(run, "failed", "interrupted: the server stopped")
            raise
        except Exception as failure:  # recorded on the run, which someone will look at
            log.exception("connector.run_failed", run_id=run.id)
            status, error = "failed", f"{type(failure).__name__}: {failure}"
        finally:
            await source.aclose()
        await self._finish(run, status, error)
        log.info("connector.run_done", run_id=run.id, status=status, **run.counts)
        return _out(run, status, error, self.now())

    async def _finish(self, run: _Run, status: str, error: str | None) -> None:
        async with self.engine.begin() as connection:
            await repository.update_run(
                connection,
                run.connector.workspace_id,
                run.id,
                status=status,
                error=error,
                counts=dict(run.counts),
                progress=run.progress,
                finished_at=self.now(),
            )

    async def _pull_all(self, run: _Run, source: Feed) -> None:
        mappings = [MappingOut.model_validate(m) for m in run.connector.mappings]
        catalog = {(f.object, f.name) for f in await source.catalog()}
        missing = [m for m in mappings if (object_of(m), m.field) not in catalog]
        await self._report(
            run,
            [
                _issue(
                    run,
                    "invalid",
                    object_of(m),
                    field=m.field,
                    reason="the source no longer has this field; its mapping was skipped",
                )
                for m in missing
            ],
        )
        state = dict(run.connector.state)
        for object_name in ("account", "user"):
            chosen = [m for m in mappings if object_of(m) == object_name and m not in missing]
            if not chosen:
                continue
            match = MatchIn.model_validate(run.connector.match[object_name])
            if (object_name, match.field) not in catalog:
                raise FeedUnavailable(f"the source has no {object_name} field {match.field!r}")
            watermark = None if run.full else state.get(f"{object_name}_updated_at")
            pull = source.pull(object_name, since=watermark)
            newest = watermark
            async for page in pull.pages:
                newest = _latest(newest, [r.updated_at for r in page.records])
                await self._apply(run, object_name, match, chosen, page)
            if pull.incremental:
                await self._carry_forward(run, object_name, chosen)
            if newest is not None:
                state[f"{object_name}_updated_at"] = newest
            async with self.engine.begin() as connection:
                await repository.save_state(connection, run.connector, state)
        if run.full:
            state["full_at"] = run.started.isoformat()
            async with self.engine.begin() as connection:
                await repository.save_state(connection, run.connector, state)

    def _today(self, run: _Run) -> date:
        return run.started.astimezone(ZoneInfo(self.timezone)).date()

    async def _apply(
        self,
        run: _Run,
        object_name: Object,
        match: MatchIn,
        mappings: list[MappingOut],
        page: Page,
    ) -> None:
        counts, issues = run.counts, []
        counts["fetched"] += len(page.records)
        counts["filtered"] += page.filtered

        def report(kind: str, record: Record, **detail: Any) -> None:
            issues.append(_issue(run, kind, object_name, record, **detail))

        keyed = match_keys(page.records, match, counts, report)
        workspace_id = run.connector.workspace_id
        async with self.engine.begin() as connection:
            found = await repository.entities_by(
                connection, workspace_id, object_name, match.by, [key for _, key in keyed]
            )
            values = read_values(keyed, found, object_name, match, mappings, counts, report)
            updated = await write_changes(
                connection,
                Landing(workspace_id, object_name, self._today(run), run.t, run.mark),
                values.current,
                values.dimensions,
                values.metrics,
            )
            counts["updated"] += len(updated)
            await repository.add_issues(connection, issues)
            same = run.progress.get("object") == object_name
            pages = run.progress.get("pages", 0) + 1 if same else 1
            run.progress = {
                "object": object_name,
                "pages": pages,
                "fetched": counts["fetched"],
                "total": page.total,
            }
            await repository.update_run(
                connection, workspace_id, run.id, counts=dict(counts), progress=run.progress
            )

    async def _carry_forward(
        self, run: _Run, object_name: Object, mappings: list[MappingOut]
    ) -> None:
        keys = [m.key for m in mappings if m.target.endswith("metric")]
        if not keys:
            return
        async with self.engine.begin() as connection:
            run.counts["carried_forward"] += await repository.carry_metrics_forward(
                connection,
                run.connector.workspace_id,
                object_name,
                keys,
                written_by=f"connector:{run.connector.id}:",
                day=self._today(run),
                t=run.t,
                m=run.mark,
            )

    async def _report(self, run: _Run, issues: list[dict[str, Any]]) -> None:
        async with self.engine.begin() as connection:
            await repository.add_issues(connection, issues)


def _lock_id(connector_id: uuid.UUID) -> int:
    return zlib.crc32(f"pulsegate-connector:{connector_id}".encode())


def _in_progress() -> AlreadyExists:
    return AlreadyExists("a run of this connector is in progress", code="run_in_progress")


def _full_due(state: dict[str, Any], now: datetime) -> bool:
    last = state.get("full_at")
    return last is None or datetime.fromisoformat(last) <= now - FULL_EVERY


def _latest(current: str | None, stamps: list[str | None]) -> str | None:
    """The latest `updated_at`, compared as moments, kept as Freshsales wrote it."""
    for stamp in stamps:
        if stamp and (
            current is None or datetime.fromisoformat(stamp) > datetime.fromisoformat(current)
        ):
            current = stamp
    return current


def _issue(
    run: _Run,
    kind: str,
    object_name: Object,
    record: Any = None,
    *,
    field: str | None = None,
    value: str | None = None,
    reason: str,
) -> dict[str, Any]:
    return {
        "workspace_id": run.connector.workspace_id,
        "run_id": run.id,
        "kind": kind,
        "object": object_name,
        "record_id": getattr(record, "id", None),
        "line": getattr(record, "line", None),
        "field": field,
        "value": value,
        "reason": reason,
    }


def _out(run: _Run, status: str, error: str | None, finished: datetime | None) -> ConnectorRunOut:
    return ConnectorRunOut.model_validate(
        {
            "id": run.id,
            "connector_id": run.connector.id,
            "trigger": run.trigger,
            "status": status,
            "full": run.full,
            "started_at": run.started,
            "finished_at": finished,
            "counts": dict(run.counts),
            "progress": run.progress,
            "error": error,
        }
    )
