"""`/api/v1/accounts` and `/api/v1/users`: reads, and upserts through the log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from pulsegate.accounts import service, writes
from pulsegate.accounts.schemas import (
    Accepted,
    AccountIn,
    AccountOut,
    AccountPage,
    ChoiceList,
    UserIn,
    UserOut,
    UserPage,
)
from pulsegate.api.auth import WorkspaceId
from pulsegate.api.json_body import StrictJsonRoute, request_body
from pulsegate.db.engine import unit_of_work

router = APIRouter(prefix="/api/v1", tags=["accounts and users"], route_class=StrictJsonRoute)
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/accounts", summary="Accounts that have a name and a join date")
async def list_accounts(
    request: Request, workspace_id: WorkspaceId, cursor: str | None = None, limit: Limit = 100
) -> AccountPage:
    """Accounts by their `groupId`, in id order, with the standard group-trait fields, custom
    fields, first and last seen and user count. An account exists once group calls have given it
    a name and a join date (`createdAt`)."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_accounts(session, workspace_id, cursor=cursor, limit=limit)


@router.get("/accounts/{account_id}", summary="One account by its groupId")
async def get_account(request: Request, workspace_id: WorkspaceId, account_id: str) -> AccountOut:
    """One account by its `groupId`: standard fields, `custom` fields, first and last seen, user
    count."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_account(session, workspace_id, account_id)


@router.get("/accounts/{account_id}/users", summary="The users whose latest group is the account")
async def list_account_users(
    request: Request,
    workspace_id: WorkspaceId,
    account_id: str,
    cursor: str | None = None,
    limit: Limit = 100,
) -> UserPage:
    """The users whose latest group call named the account."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.list_account_users(
            session, workspace_id, account_id, cursor=cursor, limit=limit
        )


@router.get("/users/{user_id}", summary="One user by its userId")
async def get_user(request: Request, workspace_id: WorkspaceId, user_id: str) -> UserOut:
    """One user by its `userId`: the standard identify-trait fields (any spelling), `custom` fields,
    and `account_id`, the account of their latest group call."""
    async with unit_of_work(request.app.state.engine) as session:
        return await service.get_user(session, workspace_id, user_id)


# The upserts read their raw body: it goes through ingest's own reading and parsing, the
# Segment routes' limits and checks, and is kept when refused (`accounts/writes.py`).
@router.put(
    "/accounts/{account_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upsert an account from a backend (stored as a group call; applied within a second)",
    openapi_extra=request_body(AccountIn),
)
async def put_account(request: Request, workspace_id: WorkspaceId, account_id: str) -> Accepted:
    """Upserts an account from a backend: the fields sent are set, null clears one, the others are
    left alone; `custom` holds custom fields. Stored in the log as a group call, so a replay
    keeps it, and answered 202 with its `message_id` once durable; the projector applies it
    within a second."""
    ingest = request.app.state.ingest
    return await writes.upsert_account(ingest, workspace_id, account_id, request.stream())


@router.put(
    "/users/{user_id}",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upsert a user from a backend (stored as an identify call; applied within a second)",
    openapi_extra=request_body(UserIn),
)
async def put_user(request: Request, workspace_id: WorkspaceId, user_id: str) -> Accepted:
    """Upserts a user from a backend, like the account upsert: stored in the log as an identify
    call, answered 202 with its `message_id` once durable."""
    ingest = request.app.state.ingest
    return await writes.upsert_user(ingest, workspace_id, user_id, request.stream())


def _choice_routes(path: str, kind: str, label: str, trait: str, note: str) -> None:
    @router.get(
        f"/settings/{path}",
        summary=f"The workspace's {label}, in order",
        description=f"The workspace's {label}, in order. A group trait `{trait}` must name one, "
        "matched exactly.",
    )
    async def get_choices(request: Request, workspace_id: WorkspaceId) -> ChoiceList:
        async with unit_of_work(request.app.state.engine) as session:
            return await service.get_choices(session, workspace_id, kind)

    @router.put(
        f"/settings/{path}",
        summary=f"Replace the workspace's {label}",
        description=f"Replaces the workspace's {label} whole, in order. An account whose trait "
        f"names an unknown one keeps its field, and the message is noted `{note}`.",
    )
    async def put_choices(
        request: Request, workspace_id: WorkspaceId, body: ChoiceList
    ) -> ChoiceList:
        async with unit_of_work(request.app.state.engine) as session:
            return await service.replace_choices(session, workspace_id, kind, body)


_choice_routes("tiers", "tier", "tiers", "tier", "unknown_tier")
_choice_routes(
    "lifecycle-stages",
    "lifecycle_stage",
    "lifecycle stages",
    "lifecycle_stage",
    "unknown_lifecycle_stage",
)
