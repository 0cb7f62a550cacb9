"""Requests sent to each Freshsales account, for the client's shared rate budget.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_budget_uses",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_budget_uses"),
    )
    op.create_index(
        "ix_rate_budget_uses_account_used_at", "rate_budget_uses", ["account", "used_at"]
    )


def downgrade() -> None:
    op.drop_table("rate_budget_uses")
