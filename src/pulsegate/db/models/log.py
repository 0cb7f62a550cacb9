"""The log and what follows it: messages, the dedup window, refusals, and the projector's
position, failures and notes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base


class StoredMessage:
    """The columns of a stored message, in the log and wherever a copy of it is applied."""

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


class InboundMessage(StoredMessage, Base):
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

    __table_args__ = (
        # Keyed by workspace first: every read of the log is one workspace's, in id order (the
        # projector's). With `id` alone as the key, the planner walked it for one workspace's
        # rows and filtered out the others' (bench/README.md).
        PrimaryKeyConstraint("workspace_id", "id", "received_at"),
        {"postgresql_partition_by": "RANGE (received_at)"},
    )


# The dedup window (pulsegate.storage.partitions.MESSAGE_IDS): the id of every message stored in
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

    Partitioned by day of `received_at` (pulsegate.storage.partitions; migration 0019): a day's
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


class ArchivedObject(Base):
    """The archive's manifest: one object of one workspace's messages from one source, received
    on one UTC day, as written and verified in the archive (pulsegate.storage.archive)."""

    __tablename__ = "archived_objects"
    __table_args__ = (
        # A workspace's days in order (a replay's), and every object of a day (the drop's).
        PrimaryKeyConstraint("workspace_id", "day", "source_id"),
        Index("ix_archived_objects_day", "day"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID)
    source_id: Mapped[uuid.UUID] = mapped_column(UUID)
    day: Mapped[date] = mapped_column(Date)
    key: Mapped[str] = mapped_column(Text)
    messages: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ArchiveDay(Base):
    """A day of the log as the archive sees it: archived and dropped, or why not yet. Global:
    a day's partition holds every workspace's messages."""

    __tablename__ = "archive_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    messages: Mapped[int | None] = mapped_column(BigInteger)
    objects: Mapped[int | None] = mapped_column(Integer)
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RestoredMessage(StoredMessage, Base):
    """Archived messages brought back for a replay, a day at a time, and removed after it:
    the log's columns, read by the same projection statements (pulsegate.projection.replay).
    Unlogged: a replay that stops is run again."""

    __tablename__ = "restored_messages"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id", "received_at"),
        {"prefixes": ["UNLOGGED"]},
    )

    id: Mapped[int] = mapped_column(BigInteger)


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
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "inbound_message_id"),)

    inbound_message_id: Mapped[int] = mapped_column(BigInteger)
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProjectionNote(Base):
    """Why part of a message was not applied (for example, an account not created yet)."""

    __tablename__ = "projection_notes"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "inbound_message_id", "code"),)

    inbound_message_id: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(64))
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID, index=True)
    message: Mapped[str] = mapped_column(Text)
