"""Queries over accounts and users, always scoped to one workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import Account, AccountChoice, User

AccountWithUsers = tuple[Account, int]


async def _with_user_counts(
    session: AsyncSession, workspace_id: uuid.UUID, accounts: Sequence[Account]
) -> list[AccountWithUsers]:
    """One grouped count over `ix_users_account` for the whole page, not one per account."""
    if not accounts:
        return []
    counted = await session.execute(
        select(User.account_id, func.count())
        .where(
            User.workspace_id == workspace_id,
            User.account_id.in_([account.account_id for account in accounts]),
        )
        .group_by(User.account_id)
    )
    counts: dict[str | None, int] = dict(counted.all())
    return [(account, counts.get(account.account_id, 0)) for account in accounts]


async def get_account(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str
) -> AccountWithUsers | None:
    query = select(Account).where(
        Account.workspace_id == workspace_id,
        Account.account_id == account_id,
        Account.created.is_(True),
    )
    account = (await session.scalars(query)).one_or_none()
    if account is None:
        return None
    [row] = await _with_user_counts(session, workspace_id, [account])
    return row


async def list_accounts(
    session: AsyncSession, workspace_id: uuid.UUID, *, after_id: int | None, limit: int
) -> list[AccountWithUsers]:
    """Visible accounts in id order, through the partial index `ix_accounts_created`."""
    query = select(Account).where(Account.workspace_id == workspace_id, Account.created.is_(True))
    if after_id is not None:
        query = query.where(Account.id > after_id)
    accounts = (await session.scalars(query.order_by(Account.id).limit(limit))).all()
    return await _with_user_counts(session, workspace_id, accounts)


async def get_user(session: AsyncSession, workspace_id: uuid.UUID, user_id: str) -> User | None:
    query = select(User).where(User.workspace_id == workspace_id, User.user_id == user_id)
    return (await session.scalars(query)).one_or_none()


async def list_account_users(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: str,
    *,
    after_id: int | None,
    limit: int,
) -> list[User]:
    query = select(User).where(User.workspace_id == workspace_id, User.account_id == account_id)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return list((await session.scalars(query.order_by(User.id).limit(limit))).all())


async def list_choices(session: AsyncSession, workspace_id: uuid.UUID, kind: str) -> list[str]:
    query = (
        select(AccountChoice.name)
        .where(AccountChoice.workspace_id == workspace_id, AccountChoice.kind == kind)
        .order_by(AccountChoice.position)
    )
    return list((await session.scalars(query)).all())


async def replace_choices(
    session: AsyncSession, workspace_id: uuid.UUID, kind: str, names: list[str]
) -> None:
    await session.execute(
        delete(AccountChoice).where(
            AccountChoice.workspace_id == workspace_id, AccountChoice.kind == kind
        )
    )
    if names:
        await session.execute(
            insert(AccountChoice),
            [
                {"workspace_id": workspace_id, "kind": kind, "name": name, "position": position}
                for position, name in enumerate(names)
            ],
        )
