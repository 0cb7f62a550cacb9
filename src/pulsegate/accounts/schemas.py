"""Accounts and users as the REST API shows them: the seed's standard fields, flat."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AccountOut(BaseModel):
    account_id: str = Field(description="The Segment groupId")
    name: str | None = None
    created_at: Any = Field(None, description="Join date, as sent in traits.createdAt")
    email: str | None = None
    description: str | None = None
    phone: Any = None
    website: str | None = None
    industry: str | None = None
    employees: Any = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_postal: Any = None
    billing_country: str | None = None
    is_churned: bool | None = None
    custom: dict[str, Any] = Field(default_factory=dict, description="Custom dimensions")
    first_seen: datetime
    last_seen: datetime
    user_count: int


class UserOut(BaseModel):
    user_id: str = Field(description="The Segment userId")
    account_id: str | None = Field(None, description="The account of the latest group call")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: Any = None
    mobile_phone: Any = None
    salutation: str | None = None
    title: str | None = None
    role: str | None = None
    department: str | None = None
    mailing_street: str | None = None
    mailing_city: str | None = None
    mailing_state: str | None = None
    mailing_postal: Any = None
    mailing_country: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict, description="Custom dimensions")
    first_seen: datetime
    last_seen: datetime


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class Choice(BaseModel):
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


class AccountIn(BaseModel):
    """An upsert from a backend: the fields given are set, the others are left alone; `null`
    clears. It becomes a group call in the log, applied like any other."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Acme",
                    "created_at": "2024-03-01",
                    "tier": "Gold",
                    "custom": {"plan": "pro"},
                }
            ]
        },
    )

    name: str | None = None
    created_at: str | None = Field(None, description="Join date, ISO-8601")
    email: str | None = None
    description: str | None = Field(None, max_length=512)
    phone: str | None = None
    website: str | None = None
    industry: str | None = None
    employees: float | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    billing_street: str | None = None
    billing_city: str | None = None
    billing_state: str | None = None
    billing_postal: str | None = None
    billing_country: str | None = None
    is_churned: bool | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


class UserIn(BaseModel):
    """An upsert from a backend, like `AccountIn`; it becomes an identify call in the log."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "email": "ada@acme.com",
                    "title": "CTO",
                    "custom": {"seats_used": 12},
                }
            ]
        },
    )

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile_phone: str | None = None
    salutation: str | None = None
    title: str | None = None
    role: str | None = None
    department: str | None = None
    mailing_street: str | None = None
    mailing_city: str | None = None
    mailing_state: str | None = None
    mailing_postal: str | None = None
    mailing_country: str | None = None
    custom: dict[str, Any] = Field(default_factory=dict)


class Accepted(BaseModel):
    message_id: str = Field(description="The message the upsert was stored as in the log")
