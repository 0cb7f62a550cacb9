"""Erasures and suppressions as the REST API shows them. No response holds an erased id."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Id = Annotated[str, Field(min_length=1, max_length=500)]


class ErasureCreate(BaseModel):
    """A user (their userId and any anonymous ids they used) or an account (its groupId)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "u-123", "anonymous_ids": ["a1b2-anon"]},
                {"account_id": "acme", "delete_in_destinations": False},
            ]
        },
    )

    user_id: Id | None = None
    anonymous_ids: list[Id] = Field(default_factory=list, max_length=100)
    account_id: Id | None = None
    delete_in_destinations: bool = Field(
        default=False,
        description="Also delete the contact (a user) in each Freshsales destination",
    )

    @model_validator(mode="after")
    def one_subject(self) -> ErasureCreate:
        is_user = self.user_id is not None or bool(self.anonymous_ids)
        if is_user == (self.account_id is not None):
            raise ValueError("give a user_id and/or anonymous_ids, or an account_id")
        return self

    @property
    def kind(self) -> Literal["user", "account"]:
        return "account" if self.account_id is not None else "user"

    @property
    def ids(self) -> list[str]:
        if self.account_id is not None:
            return [self.account_id]
        return list(dict.fromkeys([*([self.user_id] if self.user_id else []), *self.anonymous_ids]))


class ErasureOut(BaseModel):
    """An erasure request and where it stands; only the hash of the erased ids is kept."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    subject: Literal["user", "account"]
    subject_hash: str = Field(description="How the suppression list knows the subject")
    delete_in_destinations: bool
    status: Literal["pending", "running", "succeeded", "failed"]
    counts: dict[str, int] = Field(description="Rows (archive: messages) removed, per store")
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class ErasurePage(BaseModel):
    """A page of erasures, newest first. Pass `next_cursor` as `cursor` to get the next page; it is
    null on the last one."""

    items: list[ErasureOut]
    next_cursor: str | None = None


class SuppressionOut(BaseModel):
    """A suppressed id, by its salted hash: messages naming it are acknowledged and not stored."""

    model_config = ConfigDict(from_attributes=True)

    id_hash: str
    kind: str
    erasure_id: uuid.UUID | None
    created_at: datetime


class SuppressionPage(BaseModel):
    """A page of suppressed ids. Pass `next_cursor` as `cursor` to get the next page; it is null on
    the last one."""

    items: list[SuppressionOut]
    next_cursor: str | None = None
