"""Accounts and users as the REST API shows and takes them; their standard fields come from
the one table of `pulsegate.fields.standard`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, field_validator
from pydantic.config import JsonDict

from pulsegate.fields.standard import ACCOUNT_FIELDS, USER_FIELDS, StandardField
from pulsegate.ingest.traits import check_for


def _shown(field: StandardField) -> Any:
    """The type a standard field is shown with: a "string" given as a number shows as text."""
    shown: Any = {"string": TextOut, "number": float, "boolean": bool, "datetime": str}
    return (shown[field.kind] | None, Field(None, description=field.description))


def _taken(field: StandardField) -> Any:
    """The type a standard field accepts in an upsert: what its trait check accepts without
    a warning (a Segment call keeps a bad value with a warning; the REST API refuses it)."""
    taken: Any = {
        "string": str | int | float,
        "number": int | float | str,
        "boolean": bool,
        "datetime": str,
    }
    check = check_for(field)

    def checked(value: Any) -> Any:
        problem = None if value is None else check(value)
        if problem is not None:
            raise ValueError(f"{field.name} {problem}")
        return value

    return (
        Annotated[taken[field.kind] | None, BeforeValidator(checked)],
        Field(None, description=field.description),
    )


# A number sent for a text field (a phone, a postal code) is kept as sent and shown as text.
TextOut = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int | float) else v)]


class _Shown(BaseModel):
    """What every account and user shows besides its standard fields."""

    custom: dict[str, Any] = Field(default_factory=dict, description="Custom dimensions")
    first_seen: datetime
    last_seen: datetime

    def standard(self, name: str) -> Any:
        """A standard field's value (they are added from the table, unknown to type checks)."""
        return getattr(self, name)


class AccountCore(_Shown):
    account_id: str = Field(description="The Segment groupId")
    user_count: int = Field(description="Users whose latest group call names this account")


class UserCore(_Shown):
    user_id: str = Field(description="The Segment userId")
    account_id: str | None = Field(None, description="The account of the latest group call")


AccountOut = create_model(
    "AccountOut",
    __base__=AccountCore,
    __doc__="An account: its standard fields (`pulsegate.fields.standard`) and custom ones.",
    **{field.name: _shown(field) for field in ACCOUNT_FIELDS},
)

UserOut = create_model(
    "UserOut",
    __base__=UserCore,
    __doc__="A user: its standard fields (`pulsegate.fields.standard`) and custom ones.",
    **{field.name: _shown(field) for field in USER_FIELDS},
)


class AccountPage(BaseModel):
    """A page of accounts. Pass `next_cursor` as `cursor` to get the next page; it is null on the
    last one."""

    items: list[AccountOut]
    next_cursor: str | None


class UserPage(BaseModel):
    """A page of users. Pass `next_cursor` as `cursor` to get the next page; it is null on the last
    one."""

    items: list[UserOut]
    next_cursor: str | None


class Choice(BaseModel):
    """One entry of a list (a tier, a lifecycle stage)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class ChoiceList(BaseModel):
    """A workspace's tiers or lifecycle stages, in order; a PUT replaces the whole list."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [{"name": "Gold"}, {"name": "Silver"}]}]},
    )

    items: list[Choice]

    @field_validator("items")
    @classmethod
    def _names_are_unique(cls, items: list[Choice]) -> list[Choice]:
        names = [item.name for item in items]
        if len(set(names)) != len(names):
            raise ValueError("names must be unique")
        return items


_ACCOUNT_EXAMPLE: JsonDict = {
    "name": "Acme",
    "created_at": "2024-03-01",
    "tier": "Gold",
    "custom": {"plan": "pro"},
}
_USER_EXAMPLE: JsonDict = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@acme.com",
    "title": "CTO",
    "custom": {"seats_used": 12},
}

AccountIn = create_model(
    "AccountIn",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [_ACCOUNT_EXAMPLE]}),
    __doc__=(
        "An upsert from a backend: the fields given are set, the others are left alone; "
        "`null` clears. It becomes a group call in the log, applied like any other."
    ),
    **{field.name: _taken(field) for field in ACCOUNT_FIELDS},
    custom=(dict[str, Any], Field(default_factory=dict)),
)

UserIn = create_model(
    "UserIn",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [_USER_EXAMPLE]}),
    __doc__="An upsert from a backend, like `AccountIn`; it becomes an identify call in the log.",
    **{field.name: _taken(field) for field in USER_FIELDS},
    custom=(dict[str, Any], Field(default_factory=dict)),
)


class Accepted(BaseModel):
    """A write from a backend is durable in the log; the projector applies it within a second."""

    message_id: str = Field(description="The message the upsert was stored as in the log")
