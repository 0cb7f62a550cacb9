"""`/api/v1/erasures` and `/api/v1/suppressions`: Segment's "Delete and Suppress"."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from pulsegate.api.auth import WorkspaceId, actor
from pulsegate.api.json_body import StrictJsonRoute
from pulsegate.db.engine import unit_of_work
from pulsegate.privacy import service
from pulsegate.privacy.schemas import (
    ErasureCreate,
    ErasureOut,
    ErasurePage,
    SuppressionOut,
    SuppressionPage,
)

router = APIRouter(prefix="/api/v1", tags=["privacy"], route_class=StrictJsonRoute)


@router.post(
    "/erasures",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Erase a user or an account everywhere, and suppress their later messages",
)
async def request_erasure(
    request: Request, workspace_id: WorkspaceId, body: ErasureCreate
) -> ErasureOut:
    """Erases a user (with every id tied to them) or an account from the log, the projections,
    deliveries, refused messages and the archive, and puts the ids on the suppression list at
    once: their later messages are answered 200 and stored nowhere. Runs in the background (202);
    a repeated request returns the running erasure. `delete_in_destinations` forgets the
    Freshsales contacts first."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.request_erasure(session, workspace_id, body, actor=actor(request))
        out = ErasureOut.model_validate(found)
    await service.start_erasures(request.app.state.job_runner)  # after the commit
    return out


@router.get("/erasures", summary="The workspace's erasures, newest first")
async def list_erasures(request: Request, workspace_id: WorkspaceId) -> ErasurePage:
    """The workspace's erasures, newest first, with status and counts. A finished erasure keeps only
    the hash of the ids it erased."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.list_erasures(session, workspace_id)
        return ErasurePage(items=[ErasureOut.model_validate(e) for e in found])


@router.get("/erasures/{erasure_id}", summary="An erasure: its status and counts per store")
async def get_erasure(
    request: Request, workspace_id: WorkspaceId, erasure_id: uuid.UUID
) -> ErasureOut:
    """One erasure: `pending`, `running`, `succeeded` or `failed` (with its error), the rows removed
    per store, and its times."""
    async with unit_of_work(request.app.state.engine) as session:
        return ErasureOut.model_validate(
            await service.get_erasure(session, workspace_id, erasure_id)
        )


@router.get("/suppressions", summary="Suppressed ids, as hashes")
async def list_suppressions(request: Request, workspace_id: WorkspaceId) -> SuppressionPage:
    """The suppressed ids, as salted hashes (the ids themselves are not kept), with when they were
    suppressed."""
    async with unit_of_work(request.app.state.engine) as session:
        found = await service.list_suppressions(session, workspace_id)
        return SuppressionPage(items=[SuppressionOut.model_validate(s) for s in found])


@router.delete(
    "/suppressions/{id_hash}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Lift a suppression: the id's messages are stored again from now on",
)
async def lift_suppression(request: Request, workspace_id: WorkspaceId, id_hash: str) -> Response:
    """Lifts a suppression: the id's messages are stored again from now on. What was erased stays
    erased."""
    async with unit_of_work(request.app.state.engine) as session:
        await service.lift_suppression(session, workspace_id, id_hash, actor=actor(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
