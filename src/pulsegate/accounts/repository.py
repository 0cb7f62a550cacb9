"""Queries over accounts and users, always scoped to one workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from pulsegate.db.models import Account, AccountChoice, User
from pulsegate.projection.entities import created_condition

_CREATED = text(created_condition("accounts"))
_USER_ACCOUNT = User.fields["account_id"]["v"].astext


AccountWithUsers = tuple[Account, int]


def _accounts_with_user_count() -> Select[Account, int]:
    user_count = (
        select(func.count())
        .where(User.workspace_id == Account.workspace_id, Account.account_id == _USER_ACCOUNT)
        .correlate(Account)
        .scalar_subquery()
    )
    return select(Account, user_count.label("user_count")).where(_CREATED)


async def get_account(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: str
) -> AccountWithUsers | None:
    query = _accounts_with_user_count().where(
        Account.workspace_id == workspace_id, Account.account_id == account_id
    )
    row = (await session.execute(query)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def list_accounts(
    session: AsyncSession, workspace_id: uuid.UUID, *, after_id: int | None, limit: int
) -> list[AccountWithUsers]:
    query = _accounts_with_user_count().where(Account.workspace_id == workspace_id)
    if after_id is not None:
        query = query.where(Account.id > after_id)
    rows = (await session.execute(query.order_by(Account.id).limit(limit))).all()
    return [(row[0], row[1]) for row in rows]


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
    query = select(User).where(User.workspace_id == workspace_id, account_id == _USER_ACCOUNT)
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
