"""Custom metric values: one per account or user, metric and day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_values",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("object", sa.String(16), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("m", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "workspace_id", "object", "entity_id", "key", "day", name="pk_metric_values"
        ),
    )


def downgrade() -> None:
    op.drop_table("metric_values")
