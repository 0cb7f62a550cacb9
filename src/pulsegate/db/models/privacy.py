"""Erasures and the suppression list (pulsegate.privacy)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from pulsegate.db.models.base import Base, utc_now


class Erasure(Base):
    """A request to erase a user or an account, and the job that carries it out.

    The subject's ids are kept only while the job runs, to find its rows; once it has finished
    they are cleared and only their hash (`subject_hash`) remains, which is also what the
    suppression list holds.
    """

    __tablename__ = "erasures"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "id"),
        # The jobs to run or to take over (pulsegate.privacy.service.claim_erasure).
        Index(
            "ix_erasures_unfinished", "requested_at", postgresql_where=text("finished_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(16))  # "user" or "account"
    subject_hash: Mapped[str] = mapped_column(String(64))
    # While it runs: {"user_id", "anonymous_ids"} or {"account_id"}; null once finished.
    subject_ids: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    delete_in_destinations: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # pending, running, succeeded, failed
    counts: Mapped[dict[str, int]] = mapped_column(JSONB, server_default="{}")
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=utc_now()
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


class Suppression(Base):
    """An id whose messages are acknowledged and stored nowhere: the hash of
    `kind:id` (pulsegate.privacy.suppression.subject_hash), never the id itself."""

    __tablename__ = "suppressions"
    __table_args__ = (PrimaryKeyConstraint("workspace_id", "id_hash"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    id_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # userId, anonymousId, groupId
    erasure_id: Mapped[uuid.UUID | None] = mapped_column(UUID)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=utc_now())
