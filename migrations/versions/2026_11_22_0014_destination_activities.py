"""Destinations: what to do with unmapped track events and page calls.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "destinations",
        sa.Column("other_events", sa.String(16), server_default="reject", nullable=False),
    )
    op.add_column("destinations", sa.Column("activity_type", sa.Text(), nullable=True))
    op.add_column("destinations", sa.Column("activity_owner_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("destinations", "activity_owner_id")
    op.drop_column("destinations", "activity_type")
    op.drop_column("destinations", "other_events")
