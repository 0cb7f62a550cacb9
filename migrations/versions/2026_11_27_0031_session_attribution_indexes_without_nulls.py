"""The sessions' user and account indexes hold only sessions attributed to one.

As 0030 did for events: `ix_sessions_resolved_user` and `ix_sessions_resolved_account` are read
by a user or an account (the sessions API's filters, a user's or an account's sessions by day,
the restitch's candidates, erasures), each an equality or `= ANY` that no session without a
user or an account satisfies. Such sessions (an anonymous visitor's, a user's of no account)
were entries all the same: an index write each time the sweep writes a session. The readers
that group sessions by account over a time range read `ix_sessions_workspace_id_started_at`,
as before. Checked with EXPLAIN (bench/README.md, "Sessions written with less").

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_sessions_resolved_user", "resolved_user_id"),
    ("ix_sessions_resolved_account", "resolved_account_id"),
)


def upgrade() -> None:
    for name, column in _INDEXES:
        _attribution_index(name, column, where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    for name, column in _INDEXES:
        _attribution_index(name, column, where=None)


def _attribution_index(name: str, column: str, *, where: sa.TextClause | None) -> None:
    op.drop_index(name, table_name="sessions")
    op.create_index(
        name, "sessions", ["workspace_id", column, "started_at", "id"], postgresql_where=where
    )
