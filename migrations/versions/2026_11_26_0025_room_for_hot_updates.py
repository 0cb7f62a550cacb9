"""Room in the pages of the rows the projector rewrites every batch, for HOT updates.

Each projector batch updates every active user (`last_seen`), account and queued session key
(`session_dirty`) once. With full pages (the default fillfactor, 100) a quarter to a third of
those updates found no room on their row's page, and every such update inserts into every
index of the table. Leaving 30% of each page free lets PostgreSQL keep the new version on the
same page without touching the indexes (a HOT update), since none of these updates changes an
indexed column. Pages written from now on keep the room; existing ones get it as they are
rewritten.

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "accounts", "session_dirty")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
