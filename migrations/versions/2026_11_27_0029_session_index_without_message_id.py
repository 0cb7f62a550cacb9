"""The events' session index without its message id: `(workspace_id, session_key, timestamp)`.

`ix_events_session_order` ended with `message_id` so that the sweep could read a key's events
in session order from it. The sweep has since sorted them by `message_id COLLATE "C"` (the
same order on every server), which the index's column, in the database's collation, cannot
give; and its other readers, the projector's restitch and erasures, look a key up by its
first two columns. The message id was about 40% of each entry (a UUID as text, 37 bytes)
of an index that every event insert writes at a random place (it is keyed by user):
figures in bench/README.md ("What an event's insert costs").

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _session_index("workspace_id", "session_key", "timestamp")


def downgrade() -> None:
    _session_index("workspace_id", "session_key", "timestamp", "message_id")


def _session_index(*columns: str) -> None:
    op.drop_index("ix_events_session_order", table_name="events")
    op.create_index("ix_events_session_order", "events", list(columns))
