"""SQLAlchemy models of the ingestion core.

Every row of domain data carries `workspace_id`; it is the tenant boundary and would be the
distribution column of a distributed PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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


def _now() -> Any:
    return func.now()


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Source(Base):
    """A sender of Segment traffic, identified by its write key (semi-public)."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    write_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Encrypted (not hashed): verifying an HMAC needs the secret itself.
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    allowed_origins: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ApiKey(Base):
    """A secret, server-side key that authorises the REST API for one workspace."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class AdminToken(Base):
    """An operator token, created at first start unless PULSEGATE_ADMIN_TOKEN is set."""

    __tablename__ = "admin_tokens"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class InboundMessage(Base):
    """The append-only log: one row per accepted message, the source of truth.

    `(workspace_id, message_id)` is the deduplication key, within the dedup window: the writer
    stores a message only if its id is new to `message_ids` (a retried message is not stored
    twice). Partitioned by day of `received_at` (migration 0021). `id` grows with insertion,
    but with several writers
    (flushes overlap, and replicas each have their own) a higher id can commit before a lower
    one: a reader that follows `id` must not skip past ids still in flight (see
    `pulsegate.projection.watermark`).

    No foreign keys, deliberately: this is the hottest table, its rows are written only by the
    writer with a source it has just resolved, and the two FK checks per row cost about a third
    of the insert time (bench/README.md). Deleting a workspace deletes its log explicitly.
    """

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    source_id: Mapped[uuid.UUID] = mapped_column(UUID)
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The skew-corrected event time (Segment's `timestamp`).
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Soft-validation findings: fields later processing must skip.
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)

    __table_args__ = (
        # Keyed by workspace first: every read of the log is one workspace's, in id order (the
        # projector's). With `id` alone as the key, the planner walked it for one workspace's
        # rows and filtered out the others' (bench/README.md).
        PrimaryKeyConstraint("workspace_id", "id", "received_at"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )


# The dedup window (pulsegate.db.partitions.MESSAGE_IDS): the id of every message stored in
# the last `PULSEGATE_DEDUP_WINDOW_DAYS`, one partition a day with its own unique index on
# (workspace_id, message_id); days past the window are dropped.
message_ids = Table(
    "message_ids",
    Base.metadata,
    Column("workspace_id", UUID, nullable=False),
    Column("message_id", String(100), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    postgresql_partition_by="RANGE (received_at)",
)


class RejectedMessage(Base):
    """A message (or a whole request) that was refused, kept with its raw bytes and reasons.

    Partitioned by day of `received_at` (pulsegate.db.partitions; migration 0019): a day's
    partition is dropped whole once past `PULSEGATE_REFUSED_RETENTION_DAYS`."""

    __tablename__ = "rejected_messages"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id", "received_at"),
        Index("ix_rejected_messages_received_at", "received_at"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    source_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL")
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    endpoint: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(Text)
    batch_index: Mapped[int | None] = mapped_column(Integer)
    raw_body: Mapped[bytes] = mapped_column(LargeBinary)
    body_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # Set when `POST /api/v1/rejected-messages/{id}/replay` got it stored.
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProjectorPosition(Base):
    """How far the projector has applied one workspace's log: the last message id."""

    __tablename__ = "projector_positions"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReplayKept(Base):
    """While `pulsegate replay` rebuilds a workspace: the field values of an account or user
    that are not in the log (written by connector runs), merged back when it ends."""

    __tablename__ = "replay_kept"

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    object: Mapped[str] = mapped_column(String(16), primary_key=True)
    entity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)


class ProjectionFailure(Base):
    """A stored message the projector could not apply, with why; later messages go on."""

    __tablename__ = "projection_failures"

    inbound_message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Event(Base):
    """A track, page or screen call: the feature (or page/screen name) and its module.

    `account_id`, `user_id` and `anonymous_id` are what the message said; `resolved_user_id`
    and `resolved_account_id` are who it is attributed to, kept current by the projector
    (pulsegate.projection.attribution). Every filter of `GET /api/v1/events` has an index in
    the list's `(timestamp, id)` order.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id"),
        Index("ix_events_workspace_id_timestamp", "workspace_id", "timestamp", "id"),
        # Pages and screens only: tracks are most events, and read densely by the time index.
        Index(
            "ix_events_workspace_id_type",
            "workspace_id",
            "type",
            "timestamp",
            "id",
            postgresql_where=text("type <> 'track'"),
        ),
        Index("ix_events_resolved_user", "workspace_id", "resolved_user_id", "timestamp", "id"),
        Index(
            "ix_events_resolved_account", "workspace_id", "resolved_account_id", "timestamp", "id"
        ),
        Index("ix_events_session_order", "workspace_id", "session_key", "timestamp", "message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
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
    given it a `name` and a `createdAt` (the seed's insert rule, recorded as monotone `_has_`
    entries); until then it is pending, not dropped.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "account_id"),
        Index("ix_accounts_created", "workspace_id", "id", postgresql_where=text("created")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
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
        UniqueConstraint("workspace_id", "user_id"),
        Index("ix_users_account", "workspace_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    user_id: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    account_id: Mapped[str | None] = mapped_column(
        Text, Computed("(fields -> 'account_id') ->> 'v'", persisted=True)
    )


class ProjectionNote(Base):
    """Why part of a message was not applied (for example, an account not created yet)."""

    __tablename__ = "projection_notes"

    inbound_message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    message: Mapped[str] = mapped_column(Text)


class UserIdentity(Base):
    """An anonymousId (or an alias's previousId) tied to a userId; the newest tie wins.

    `t` and `m` are the event time (µs) and messageId of the message that made the tie.
    """

    __tablename__ = "identities"

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
    __table_args__ = (UniqueConstraint("workspace_id", "object", "key"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    object: Mapped[str] = mapped_column(String(16))  # account | user
    kind: Mapped[str] = mapped_column(String(16))  # dimension | metric
    key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16))  # string | number | date | boolean
    label: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)  # traits | api | a connector
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


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
    session sweep for the window that new events touch. `chain_started_at` is the first event
    after the last gap over the timeout: sessions are rebuilt from there, because a 24-hour cut
    depends on where its chain began. `modules` and `features` hold
    `[{"module"|"feature": name or null, "ms": time, "events": count}]`.
    """

    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "session_key", "started_at"),
        # Includes what usage sums, so scoring a workspace scans the index alone (0018).
        Index(
            "ix_sessions_workspace_id_started_at",
            "workspace_id",
            "started_at",
            "id",
            postgresql_include=["resolved_account_id", "resolved_user_id", "duration_ms"],
        ),
        Index("ix_sessions_resolved_user", "workspace_id", "resolved_user_id", "started_at", "id"),
        Index(
            "ix_sessions_resolved_account",
            "workspace_id",
            "resolved_account_id",
            "started_at",
            "id",
        ),
        # The sweep closes idle sessions: it reads only the open ones.
        Index("ix_sessions_open", "ended_at", postgresql_where=text("NOT closed")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
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


class RateBudgetUse(Base):
    """One request sent to a third-party account (pulsegate.freshsales.budget)."""

    __tablename__ = "rate_budget_uses"
    __table_args__ = (Index("ix_rate_budget_uses_account_used_at", "account", "used_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    account: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Destination(Base):
    """Where a workspace's messages are forwarded: today a Freshsales account.

    The API key is encrypted with the server's secret key (it must be sent, so it cannot be
    hashed) and never returned by the API.
    """

    __tablename__ = "destinations"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(Text)
    api_key_encrypted: Mapped[str] = mapped_column(Text)
    message_types: Mapped[list[str]] = mapped_column(ARRAY(Text))
    event_mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    per_minute: Mapped[int] = mapped_column(Integer)
    per_hour: Mapped[int] = mapped_column(Integer)
    retry_hours: Mapped[float] = mapped_column(Numeric)
    # Track events without a mapping: reject (RudderStack's way), skip, or sales_activity.
    other_events: Mapped[str] = mapped_column(String(16), server_default="reject")
    # The sales activity type (by name) and owner of recorded events and page views.
    activity_type: Mapped[str | None] = mapped_column(Text)
    activity_owner_id: Mapped[int | None] = mapped_column(BigInteger)
    enabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Delivery(Base):
    """One message to send to one destination: the outbox.

    Written by the projector in the same transaction as the projection, sent by the delivery
    job in log order per `ordering_key` (the message's user), retried with back-off until
    `retry_hours` after creation, then dead. `status`: pending, sent, rejected (final: the
    message cannot be forwarded, or Freshsales refused it), skipped (final: the destination's
    settings leave it out) or dead.

    Partitioned by day of `received_at`, its message's (pulsegate.db.partitions; migration
    0020): a day goes whole past `PULSEGATE_DELIVERIES_RETENTION_DAYS`, its pending, dead
    and rejected deliveries kept in the default partition.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id", "received_at"),
        UniqueConstraint(
            "workspace_id",
            "destination_id",
            "inbound_message_id",
            "received_at",
            name="uq_deliveries_message",
        ),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_destination_id_ordering_key", "destination_id", "ordering_key"),
        # The deliveries list, all or by status, in cursor order.
        Index("ix_deliveries_destination_id_id", "destination_id", "id"),
        Index("ix_deliveries_destination_id_status", "destination_id", "status", "id"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    destination_id: Mapped[uuid.UUID] = mapped_column(UUID)
    inbound_message_id: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the message's
    message_id: Mapped[str] = mapped_column(String(100))
    ordering_key: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReverseSyncRule(Base):
    """A pulsegate value kept current in a Freshsales field (pulsegate.reverse_sync).

    `source` names an entry of the source registry; `key` is the custom field it reads, when it
    reads one. `target` is `contact` (filled from users, matched by email) or `sales_account`
    (from accounts, matched by `match_field`: `name`, or a `cf_*` field holding the account id).
    """

    __tablename__ = "reverse_sync_rules"
    __table_args__ = (UniqueConstraint("destination_id", "target", "field"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    destination_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("destinations.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(Text)
    match_field: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ReverseSyncValue(Base):
    """The value of a rule last pushed for one account or user, and the record it matched:
    a run sends a value only when one of the two differs."""

    __tablename__ = "reverse_sync_values"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("reverse_sync_rules.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[str] = mapped_column(Text, primary_key=True)
    match_value: Mapped[str] = mapped_column(Text)
    value: Mapped[Any] = mapped_column(JSONB)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReverseSyncRun(Base):
    """One reverse-sync run of a workspace, with its counts. `status`: running, succeeded,
    incomplete (the rate budget ran out; the rest goes next run) or failed."""

    __tablename__ = "reverse_sync_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)


class ReverseSyncItem(Base):
    """One write a run made (or tried): the record matched, the fields sent, the outcome."""

    __tablename__ = "reverse_sync_items"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("reverse_sync_runs.id", ondelete="CASCADE"), index=True
    )
    destination_id: Mapped[uuid.UUID] = mapped_column(UUID)
    target: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(Text)
    unique_identifier: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))  # sent | failed
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Connector(Base):
    """A third-party source whose fields a workspace pulls into custom dimensions and metrics
    (pulsegate.connectors). `settings` hold the kind's options (a Freshsales domain and plan
    limits, a CSV path and object); `secret_encrypted` its API key; `state` what later runs
    start from (the `updated_at` watermark per object, the last full pull); `upload` the CSV
    file last uploaded."""

    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    match: Mapped[dict[str, Any]] = mapped_column(JSONB)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    upload: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ConnectorRun(Base):
    """One run of a connector. `status`: running, succeeded or failed; `progress` is updated
    after every page while it runs."""

    __tablename__ = "connector_runs"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    connector_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("connectors.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    full: Mapped[bool] = mapped_column("full_pull", Boolean)  # `full` is an SQL keyword
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, int]] = mapped_column(JSONB)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)


class ConnectorIssue(Base):
    """A record a run could not use, and why: `unmatched` (no pulsegate account or user) or
    `invalid` (a bad row, or a value that does not fit its field)."""

    __tablename__ = "connector_issues"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("connector_runs.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    object: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


class JobRun(Base):
    """One run of a scheduled job (pulsegate.jobs). `trigger`: schedule, nightly (a step of the
    nightly chain), manual (the admin API) or cli; `scheduled_for` is the trigger time a
    scheduled run belongs to, unique per job so that replicas firing together run it once.
    `status`: running, succeeded, idle (a scheduled run that did nothing, kept ten minutes),
    failed, or interrupted (its process stopped first)."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job", "scheduled_for"),
        Index("ix_job_runs_job_started_at", "job", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[Any] = mapped_column(JSONB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)  # hostname:pid of the process that ran it


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
