"""The sessions and usage read API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class ModuleTime(BaseModel):
    """Time and events of one module."""

    module: str | None = Field(description="null: track calls without properties.module")
    seconds: float
    events: int


class FeatureTime(BaseModel):
    """Time and events of one feature."""

    feature: str | None
    seconds: float
    events: int


class SessionOut(BaseModel):
    """A session: its key's events with no gap longer than the timeout, with time per module and
    feature."""

    session_key: str = Field(description="The anonymousId of its events, else their userId")
    started_at: datetime
    ended_at: datetime = Field(description="The time of its last event")
    seconds: float = Field(description="The gaps between its events, plus the tail")
    events: int
    user_id: str | None
    account_id: str | None
    closed: bool = Field(description="Idle for longer than the timeout")
    modules: list[ModuleTime]
    features: list[FeatureTime]


class SessionPage(BaseModel):
    """A page of sessions, in start order. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[SessionOut]
    next_cursor: str | None


class DailyUsage(BaseModel):
    """One day's usage: sessions, time, events and active users, by module and feature."""

    date: date
    sessions: int
    seconds: float
    events: int
    active_users: int = Field(description="Distinct users with a session that day")
    modules: list[ModuleTime]
    features: list[FeatureTime]


class UsageMeasures(BaseModel):
    """Over the 30 days ending `as_of`: the measures health scores use."""

    as_of: date
    days_active: int = Field(description="Days with at least one session, of the last 30")
    seconds_per_active_user_day: float = Field(
        description="Time spent over the 30 days, divided by the active users of each day summed"
    )
    dau_share: float | None = Field(
        description="Active users on `as_of` over the account's users (null without users)"
    )
    mau_share: float | None = Field(
        description="Distinct active users over the 30 days over the account's users"
    )


class UsageReport(BaseModel):
    """Daily usage of an account or a user, and for an account its usage measures."""

    account_id: str | None = None
    user_id: str | None = None
    days: list[DailyUsage]
    measures: UsageMeasures | None = None
