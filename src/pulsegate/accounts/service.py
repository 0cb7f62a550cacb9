"""Reading accounts and users: merged fields shown as plain values."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.accounts import repository
from pulsegate.accounts.schemas import (
    AccountOut,
    AccountPage,
    Choice,
    ChoiceList,
    UserOut,
    UserPage,
)
from pulsegate.api.pagination import decode_id_cursor, encode_id_cursor
from pulsegate.db.models import Account, User
from pulsegate.errors import NotFound
from pulsegate.projection.custom import CUSTOM_PREFIX


def _values(fields: dict[str, Any]) -> dict[str, Any]:
    """`{"name": {"v": "Acme", …}, "custom:plan": {"v": "pro", …}}` ->
    `{"name": "Acme", "custom": {"plan": "pro"}}`, without bookkeeping entries (`_has_…`)."""
    values: dict[str, Any] = {"custom": {}}
    for name, entry in fields.items():
        if name.startswith(CUSTOM_PREFIX):
            values["custom"][name.removeprefix(CUSTOM_PREFIX)] = entry.get("v")
        elif not name.startswith("_"):
            values[name] = entry.get("v")
    return values


def _account(account: Account, user_count: int) -> AccountOut:
    return AccountOut(
        **_values(account.fields),
        account_id=account.account_id,
        first_seen=account.first_seen,
        last_seen=account.last_seen,
        user_count=user_count,
    )


def _user(user: User) -> UserOut:
    return UserOut(
        **_values(user.fields),
        user_id=user.user_id,
        first_seen=user.first_seen,
        last_seen=user.last_seen,
    )


async def get_account(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str
) -> AccountOut:
    row = await repository.get_account(session, workspace_id, account_id)
    if row is None:
        raise NotFound(f"no account {account_id!r}")
    return _account(*row)


async def list_accounts(
    session: AsyncSession, workspace_id: uuid.UUID, *, cursor: str | None, limit: int
) -> AccountPage:
    after = decode_id_cursor(cursor) if cursor else None
    rows = await repository.list_accounts(session, workspace_id, after_id=after, limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return AccountPage(
        items=[_account(*row) for row in page],
        next_cursor=encode_id_cursor(page[-1][0].id) if more else None,
    )


async def get_user(session: AsyncSession, workspace_id: uuid.UUID, user_id: str) -> UserOut:
    user = await repository.get_user(session, workspace_id, user_id)
    if user is None:
        raise NotFound(f"no user {user_id!r}")
    return _user(user)


async def list_account_users(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> UserPage:
    await get_account(session, workspace_id, account_id)  # 404 for an unknown account
    after = decode_id_cursor(cursor) if cursor else None
    users = await repository.list_account_users(
        session, workspace_id, account_id, after_id=after, limit=limit + 1
    )
    page = users[:limit]
    more = len(users) > limit
    return UserPage(
        items=[_user(user) for user in page],
        next_cursor=encode_id_cursor(page[-1].id) if more else None,
    )


async def get_choices(session: AsyncSession, workspace_id: uuid.UUID, kind: str) -> ChoiceList:
    names = await repository.list_choices(session, workspace_id, kind)
    return ChoiceList(items=[Choice(name=name) for name in names])


async def replace_choices(
    session: AsyncSession, workspace_id: uuid.UUID, kind: str, choices: ChoiceList
) -> ChoiceList:
    """Replace the list whole. Accounts keep the values they have; new group traits are
    checked against the new list from now on."""
    await repository.replace_choices(
        session, workspace_id, kind, [choice.name for choice in choices.items]
    )
    return await get_choices(session, workspace_id, kind)


async def all_accounts(session: AsyncSession, workspace_id: uuid.UUID) -> list[AccountOut]:
    """Every account of the workspace, read a thousand at a time (jobs that score them all)."""
    accounts: list[AccountOut] = []
    after_id = None
    while batch := await repository.list_accounts(
        session, workspace_id, after_id=after_id, limit=1000
    ):
        accounts.extend(_account(account, user_count) for account, user_count in batch)
        after_id = batch[-1][0].id
    return accounts
