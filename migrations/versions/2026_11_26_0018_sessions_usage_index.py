"""Sessions: the workspace's start-order index also carries what usage sums.

Scoring a workspace sums, per account, day and user, the sessions of the last 30 days. On a
workspace of 10M messages that is half a million sessions, and the heap (about 1.2 KB a row,
most of it the modules and features) had to be read for three small columns: 1.1 GB for the
scan. With `resolved_account_id`, `resolved_user_id` and `duration_ms` included in
`ix_sessions_workspace_id_started_at` the scan is index-only (about 60 bytes a row).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INCLUDED = ["resolved_account_id", "resolved_user_id", "duration_ms"]


def upgrade() -> None:
    op.drop_index("ix_sessions_workspace_id_started_at", table_name="sessions")
    op.create_index(
        "ix_sessions_workspace_id_started_at",
        "sessions",
        ["workspace_id", "started_at", "id"],
        postgresql_include=_INCLUDED,
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_workspace_id_started_at", table_name="sessions")
    op.create_index(
        "ix_sessions_workspace_id_started_at", "sessions", ["workspace_id", "started_at", "id"]
    )
