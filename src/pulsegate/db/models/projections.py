"""What the projector and the sweep make of the log: events, accounts, users, identities,
custom fields and metrics, sessions, health scores."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base, utc_now


class Event(Base):
    """A track, page or screen call: the feature (or page/screen name) and its module.

    `account_id`, `user_id` and `anonymous_id` are what the message said; `resolved_user_id`
    and `resolved_account_id` are who it is attributed to, kept current by the projector
    (pulsegate.projection.attribution). Every filter of `GET /api/v1/events` has an index in
    the list's `(timestamp, id)` order.

    Partitioned by month of `timestamp` (migration 0023; pulsegate.storage.partitions.EVENTS),
    so its keys hold `timestamp`: the primary key is the list's own order, and a message's
    event is unique with its timestamp (which never changes when it is projected again).
    """

    __tablename__ = "events"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "timestamp", "id"),
        # A message's event: time first, so live inserts go to the index's right edge, as
        # the primary key's do (message ids are random; migration 0028).
        UniqueConstraint("workspace_id", "timestamp", "message_id"),
        # Pages and screens only: tracks are most events, and read densely by the time index.
        Index(
            "ix_events_workspace_id_type",
            "workspace_id",
            "type",
            "timestamp",
            "id",
            postgresql_where=text("type <> 'track'"),
        ),
        # By user and by account: only events attributed to one (migration 0030), as no
        # reader looks up events by a missing user or account.
        Index(
            "ix_events_resolved_user",
            "workspace_id",
            "resolved_user_id",
            "timestamp",
            "id",
            postgresql_where=text("resolved_user_id IS NOT NULL"),
        ),
        Index(
            "ix_events_resolved_account",
            "workspace_id",
            "resolved_account_id",
            "timestamp",
            "id",
            postgresql_where=text("resolved_account_id IS NOT NULL"),
        ),
        # A key's events from a time on: the sweep sorts them itself (migration 0029).
        Index("ix_events_session_order", "workspace_id", "session_key", "timestamp"),
        {"postgresql_partition_by": "RANGE (timestamp)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account_id: Mapped[str | None] = mapped_column(Text)  # the Segment groupId
    user_id: Mapped[str | None] = mapped_column(Text)
    anonymous_id: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)  # track: the feature; page/screen: the name
    module: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # What sessions are keyed by: the anonymousId, else the userId (issue 4).
    session_key: Mapped[str | None] = mapped_column(
        Text, Computed("COALESCE(anonymous_id, user_id)", persisted=True)
    )
    resolved_user_id: Mapped[str | None] = mapped_column(Text)
    resolved_account_id: Mapped[str | None] = mapped_column(Text)


class Account(Base):
    """A customer account (the Segment `groupId`), with its fields merged per field.

    `fields` maps a field name to `{"v": value, "t": event time in µs, "m": messageId}`; the
    newer (t, m) wins per field (migration 0003). An account becomes visible once messages have
    given it a `name` and a `createdAt` (the rule for creating one, recorded as monotone `_has_`
    entries); until then it is pending, not dropped.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "account_id"),
        Index("ix_accounts_created", "workspace_id", "id", postgresql_where=text("created")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    account_id: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Visible: generated, so the list's partial index needs no expression over `fields` (one
    # would make every update of an account non-HOT).
    created: Mapped[bool | None] = mapped_column(
        Boolean,
        Computed("fields ? '_has_name' AND fields ? '_has_created_at'", persisted=True),
    )


class User(Base):
    """A product user (the Segment `userId`); fields merged like an account's.

    `account_id` (generated from `fields["account_id"]`) is the account of the user's latest
    group call; its index serves the users of an account and their counts.
    """

    __tablename__ = "users"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "user_id"),
        Index("ix_users_account", "workspace_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    user_id: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account_id: Mapped[str | None] = mapped_column(
        Text, Computed("(fields -> 'account_id') ->> 'v'", persisted=True)
    )


class UserIdentity(Base):
    """An anonymousId (or an alias's previousId) tied to a userId; the newest tie wins.

    `t` and `m` are the event time (µs) and messageId of the message that made the tie.
    """

    __tablename__ = "identities"
    # A user's ids (the console's user page, an erasure): written once per new tie, read by
    # user; the primary key serves the projector's lookups by alias.
    __table_args__ = (Index("ix_identities_user", "workspace_id", "user_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    alias: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[str] = mapped_column(Text)
    t: Mapped[int] = mapped_column(BigInteger)
    m: Mapped[str] = mapped_column(Text)


class AccountChoice(Base):
    """An allowed tier or lifecycle stage of a workspace (`kind`), in its list's order."""

    __tablename__ = "account_choices"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class CustomField(Base):
    """A custom dimension or metric of accounts or users in one workspace."""

    __tablename__ = "custom_fields"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "object", "key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    object: Mapped[str] = mapped_column(String(16))  # account | user
    kind: Mapped[str] = mapped_column(String(16))  # dimension | metric
    key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))  # string | number | date | boolean
    label: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)  # traits | api | a connector
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class CustomFieldSettings(Base):
    """How a workspace turns unknown traits into custom dimensions: auto, mapped or off."""

    __tablename__ = "custom_field_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))


class TraitMapping(Base):
    """In `mapped` mode: trait `trait` of a group (account) or identify (user) call fills
    custom field `field_key`."""

    __tablename__ = "trait_mappings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    object: Mapped[str] = mapped_column(String(16), primary_key=True)
    trait: Mapped[str] = mapped_column(Text, primary_key=True)
    field_key: Mapped[str] = mapped_column(Text)


class MetricValue(Base):
    """A custom metric's value for one account or user on one day; the newest write wins.

    `t` (µs) and `m` order writes of the same day: the event time and messageId of a trait, or
    the request time and a generated id of `POST /api/v1/metrics`.
    """

    __tablename__ = "metric_values"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    object: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric)
    t: Mapped[int] = mapped_column(BigInteger)
    m: Mapped[str] = mapped_column(Text)


class Session(Base):
    """One visit of a session key: its events with no gap over the timeout, cut at 24 hours.

    A pure function of the key's events (pulsegate.sessions.sessionize), rebuilt by the
    session sweep from the session that new events join. `chain_started_at` is the first event
    after the last gap over the timeout (a chain is cut into sessions at 24 hours). `modules`
    and `features` hold
    `[{"module"|"feature": name or null, "ms": time, "events": count}]`.
    """

    __tablename__ = "sessions"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "session_key", "started_at"),
        # Includes what usage sums, so scoring a workspace scans the index alone (0018).
        Index(
            "ix_sessions_workspace_id_started_at",
            "workspace_id",
            "started_at",
            "id",
            postgresql_include=["resolved_account_id", "resolved_user_id", "duration_ms"],
        ),
        # By user and by account: only sessions attributed to one (migration 0031), as for
        # events.
        Index(
            "ix_sessions_resolved_user",
            "workspace_id",
            "resolved_user_id",
            "started_at",
            "id",
            postgresql_where=text("resolved_user_id IS NOT NULL"),
        ),
        Index(
            "ix_sessions_resolved_account",
            "workspace_id",
            "resolved_account_id",
            "started_at",
            "id",
            postgresql_where=text("resolved_account_id IS NOT NULL"),
        ),
        # The sweep closes idle sessions: it reads only the open ones.
        Index("ix_sessions_open", "ended_at", postgresql_where=text("NOT closed")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    session_key: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    chain_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_message_id: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[str | None] = mapped_column(Text)  # the last userId among its events
    group_id: Mapped[str | None] = mapped_column(Text)  # the last groupId among its events
    events: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(BigInteger)
    modules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    closed: Mapped[bool] = mapped_column(Boolean)
    # Attribution, as on events (pulsegate.projection.attribution).
    resolved_user_id: Mapped[str | None] = mapped_column(Text)
    resolved_account_id: Mapped[str | None] = mapped_column(Text)


class SessionDirty(Base):
    """Session keys with new events since the last sweep, and the earliest new event time."""

    __tablename__ = "session_dirty"
    # Claimed oldest first, a batch at a time: without the index each claim sorted the queue.
    __table_args__ = (Index("ix_session_dirty_since", "since"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    session_key: Mapped[str] = mapped_column(Text, primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HealthScoreConfig(Base):
    """A workspace's health score configuration (pulsegate.health_scores): the default and the
    segmented configurations, replaced whole; `version` counts the replacements."""

    __tablename__ = "health_score_configs"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HealthScore(Base):
    """An account's score for one day (in the workspace's time zone), with its breakdown by
    section and measure. `score` and `band` are null when no measure had data."""

    __tablename__ = "health_scores"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    account_id: Mapped[str] = mapped_column(Text, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    score: Mapped[int | None] = mapped_column(Integer)
    band: Mapped[str | None] = mapped_column(String(8))
    segment: Mapped[str | None] = mapped_column(Text)
    config_version: Mapped[int] = mapped_column(Integer)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
