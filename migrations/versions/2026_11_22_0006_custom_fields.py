"""Custom field definitions, and each workspace's rule for turning traits into them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("object", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_custom_fields"),
        sa.UniqueConstraint(
            "workspace_id", "object", "key", name="uq_custom_fields_workspace_id_object_key"
        ),
    )
    op.create_table(
        "custom_field_settings",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_custom_field_settings"),
    )
    op.create_table(
        "trait_mappings",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("object", sa.String(16), nullable=False),
        sa.Column("trait", sa.Text(), nullable=False),
        sa.Column("field_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "object", "trait", name="pk_trait_mappings"),
    )


def downgrade() -> None:
    op.drop_table("trait_mappings")
    op.drop_table("custom_field_settings")
    op.drop_table("custom_fields")
