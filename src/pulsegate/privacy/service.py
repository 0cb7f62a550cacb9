"""Erasing a person or an account, and suppressing their later messages.

`request_erasure` records the request (an audit row without the personal data), puts the ids
on the suppression list at once and leaves the work to the `erasures` job, which
`run_pending` carries out: started right away by the API, and every minute by the scheduler
for whatever a stopped process left. A repeated request for a subject whose erasure has not
finished returns that erasure.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from pulsegate.db.models import Erasure, Suppression
from pulsegate.destinations import service as destinations_service
from pulsegate.errors import NotFound
from pulsegate.jobs.runner import JobRunner, JobRunning
from pulsegate.privacy import erasure, repository
from pulsegate.privacy.schemas import ErasureCreate
from pulsegate.privacy.suppression import subject_hash
from pulsegate.security import SecretBox
from pulsegate.storage.stores import ArchiveStore
from pulsegate.workspaces import audit, changes

log = structlog.get_logger(__name__)


async def request_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, body: ErasureCreate, *, actor: str
) -> Erasure:
    kind, ids = body.kind, body.ids
    primary = subject_hash(workspace_id, kind, ids[0])
    existing = await repository.unfinished_erasure(session, workspace_id, primary)
    if existing is not None:
        return existing
    found = Erasure(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        subject=kind,
        subject_hash=primary,
        subject_ids={"ids": ids},
        delete_in_destinations=body.delete_in_destinations,
        status="pending",
        counts={},
        requested_by=actor,
    )
    session.add(found)
    await session.flush()
    await repository.suppress(
        session, workspace_id, {subject_hash(workspace_id, kind, i): kind for i in ids}, found.id
    )
    await changes.announce(session)  # every process drops its cached suppression list
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace_id,
        action="erasure.requested",
        target=f"erasure:{found.id}",
        details={"subject": kind, "subject_hash": primary},
    )
    await session.refresh(found)
    return found


async def get_erasure(
    session: AsyncSession, workspace_id: uuid.UUID, erasure_id: uuid.UUID
) -> Erasure:
    found = await repository.get_erasure(session, workspace_id, erasure_id)
    if found is None:
        raise NotFound(f"no erasure {erasure_id}")
    return found


async def list_erasures(session: AsyncSession, workspace_id: uuid.UUID) -> list[Erasure]:
    return await repository.list_erasures(session, workspace_id)


async def list_suppressions(session: AsyncSession, workspace_id: uuid.UUID) -> list[Suppression]:
    return await repository.list_suppressions(session, workspace_id)


async def lift_suppression(
    session: AsyncSession, workspace_id: uuid.UUID, id_hash: str, *, actor: str
) -> None:
    """Messages naming the id are stored again from now on (what was erased stays erased)."""
    if not await repository.lift(session, workspace_id, id_hash):
        raise NotFound(f"no suppression {id_hash}")
    await changes.announce(session)
    await audit.record(
        session,
        actor=actor,
        workspace_id=workspace_id,
        action="suppression.lifted",
        target=f"suppression:{id_hash}",
    )


async def start_erasures(runner: JobRunner) -> None:
    """Start the `erasures` job now; when it already runs, that run finds the new erasure."""
    with contextlib.suppress(JobRunning):
        await runner.start("erasures", trigger="api")


async def run_pending(
    engine: AsyncEngine, *, store: ArchiveStore | None, secret_box: SecretBox
) -> dict[str, int]:
    """Run every erasure waiting (the `erasures` job); return how many succeeded and failed."""
    done = {"succeeded": 0, "failed": 0}
    while True:
        async with engine.begin() as connection:
            claimed = await repository.claim_next(connection)
        if claimed is None:
            return done
        workspace_id, erasure_id = claimed["workspace_id"], claimed["id"]
        subject = erasure.Subject(claimed["subject"], tuple(claimed["subject_ids"]["ids"]))
        forget = (
            functools.partial(_forget_contacts, engine, secret_box, workspace_id)
            if claimed["delete_in_destinations"]
            else None
        )
        try:
            counts = await erasure.erase(
                engine, workspace_id, subject, store=store, forget_contacts=forget
            )
        except Exception as error:
            log.exception("privacy.erasure.failed", erasure_id=str(erasure_id))
            async with engine.begin() as connection:
                await repository.finish(
                    connection, workspace_id, erasure_id, counts=None, error=str(error)[:500]
                )
            done["failed"] += 1
            continue
        async with engine.begin() as connection:
            await repository.finish(connection, workspace_id, erasure_id, counts=counts, error=None)
        done["succeeded"] += 1


async def _forget_contacts(
    engine: AsyncEngine,
    secret_box: SecretBox,
    workspace_id: uuid.UUID,
    external_ids: Sequence[str],
    emails: Sequence[str],
) -> int:
    return await destinations_service.forget_contacts(
        engine, secret_box, workspace_id, external_ids=external_ids, emails=emails
    )
