"""The events' user and account indexes hold only events attributed to one.

`ix_events_resolved_user` and `ix_events_resolved_account` are read by a user or an account:
the events API's filters, the restitch's candidates and erasures, each an equality (or
`= ANY`) that no event without a user or an account can satisfy. Such events (an anonymous
visitor's, a user's of no account) were entries all the same: an index write an event, and
the space (34 MB of an events partition's 254 MB at 419,400 events without accounts;
bench/README.md, "Indexes without the events no one looks up"). PostgreSQL uses a partial
index for an equality on its column as it used the whole one: checked with EXPLAIN.

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_events_resolved_user", "resolved_user_id"),
    ("ix_events_resolved_account", "resolved_account_id"),
)


def upgrade() -> None:
    for name, column in _INDEXES:
        _attribution_index(name, column, where=sa.text(f"{column} IS NOT NULL"))


def downgrade() -> None:
    for name, column in _INDEXES:
        _attribution_index(name, column, where=None)


def _attribution_index(name: str, column: str, *, where: sa.TextClause | None) -> None:
    op.drop_index(name, table_name="events")
    op.create_index(
        name, "events", ["workspace_id", column, "timestamp", "id"], postgresql_where=where
    )
