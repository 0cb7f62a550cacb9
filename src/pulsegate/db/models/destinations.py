"""Freshsales destinations: the outbox, the shared rate budget, and reverse sync."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base, utc_now


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
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID)
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class Delivery(Base):
    """One message to send to one destination: the outbox.

    Written by the projector in the same transaction as the projection, sent by the delivery
    job in log order per `ordering_key` (the message's user), retried with back-off until
    `retry_hours` after creation, then dead. `status`: pending, sent, rejected (final: the
    message cannot be forwarded, or Freshsales refused it), skipped (final: the destination's
    settings leave it out) or dead.

    Partitioned by day of `received_at`, its message's (pulsegate.storage.partitions; migration
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
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "destination_id", "target", "field"),
        ForeignKeyConstraint(
            ["workspace_id", "destination_id"],
            ["destinations.workspace_id", "destinations.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    destination_id: Mapped[uuid.UUID] = mapped_column(UUID)
    source: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(Text)
    match_field: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())


class ReverseSyncValue(Base):
    """The value of a rule last pushed for one account or user, and the record it matched:
    a run sends a value only when one of the two differs."""

    __tablename__ = "reverse_sync_values"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "rule_id", "entity_id"),
        ForeignKeyConstraint(
            ["workspace_id", "rule_id"],
            ["reverse_sync_rules.workspace_id", "reverse_sync_rules.id"],
            ondelete="CASCADE",
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    rule_id: Mapped[uuid.UUID] = mapped_column(UUID)
    entity_id: Mapped[str] = mapped_column(Text)
    match_value: Mapped[str] = mapped_column(Text)
    value: Mapped[Any] = mapped_column(JSONB)
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReverseSyncRun(Base):
    """One reverse-sync run of a workspace, with its counts. `status`: running, succeeded,
    incomplete (the rate budget ran out; the rest goes next run) or failed."""

    __tablename__ = "reverse_sync_runs"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
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
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        ForeignKeyConstraint(
            ["workspace_id", "run_id"],
            ["reverse_sync_runs.workspace_id", "reverse_sync_runs.id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    destination_id: Mapped[uuid.UUID] = mapped_column(UUID)
    target: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(Text)
    unique_identifier: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))  # sent | failed
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
