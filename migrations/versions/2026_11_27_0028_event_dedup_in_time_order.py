"""An event's message is unique in time order: `(workspace_id, timestamp, message_id)`.

The projector inserts every event with `ON CONFLICT ... DO NOTHING` on the message's event,
and the unique index that serves it was keyed by message id first. Message ids are random
(SDKs send UUIDs), so each insert went to a random page of an index as large as the month's
events (80 MB at 640,000 events, the largest of the table's five), which at volume is a page
out of the buffer cache, and a page written whole to the WAL after every checkpoint.

The same columns in time order are the same constraint: one event per message id and
timestamp. Live events carry timestamps of about now, so their entries go to the right edge
of the workspace's part of the index, a page already in memory, as the primary key's do.
Nothing reads events by message id alone: the messages API looks an event up by its message
id and timestamp, an equality on every column in either order. At 1.5 million events the
projector's event insert took 29.2 and 29.3 µs an event against 31.2 and 30.8 before
(`bench/statements.py --duration 40`, alternating; bench/README.md, "What an event's insert
costs"): most of what the constraint still costs is the conflict check itself.

Building the new index reads each partition once: the migration took 2 s on 1.6 million
events. The old one is dropped after it, in the same transaction.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_unique_constraint(
        "uq_events_workspace_id_timestamp_message_id",
        "events",
        ["workspace_id", "timestamp", "message_id"],
    )
    op.drop_constraint("uq_events_workspace_id_message_id_timestamp", "events", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint(
        "uq_events_workspace_id_message_id_timestamp",
        "events",
        ["workspace_id", "message_id", "timestamp"],
    )
    op.drop_constraint("uq_events_workspace_id_timestamp_message_id", "events", type_="unique")
