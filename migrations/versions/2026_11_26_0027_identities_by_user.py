"""Identities by user: a user's ids, for the console's user page and for erasures.

Both read every alias tied to one user; the primary key `(workspace_id, alias)` serves only
the projector's lookups by alias, so they scanned the workspace's identities. New ties are
rare next to messages (one per anonymous id), so the index costs ingest nothing measurable.

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_identities_user", "identities", ["workspace_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_identities_user", table_name="identities")
