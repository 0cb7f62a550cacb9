"""The declarative base of every model, with stable constraint names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, func
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations can refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utc_now() -> Any:
    """A server default: the time of the insert."""
    return func.now()
