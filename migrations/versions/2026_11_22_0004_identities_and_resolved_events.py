"""Identities (anonymousId or previousId -> userId) and events resolved through them.

An event is attributed when it is read, not when it is written: `resolved_events` gives each
event its user (its own userId, else the user its anonymousId was tied to by an identify or
alias, and an aliased userId follows its alias) and its account (its own groupId, else that
user's current account). So a tie or group call that arrives later attributes earlier events
with no backfill, whatever the arrival order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLVED_EVENTS = """
CREATE VIEW resolved_events AS
SELECT e.id, e.workspace_id, e.message_id, e.type, e.timestamp, e.anonymous_id, e.name,
       e.module, e.category, e.properties,
       r.user_id,
       COALESCE(e.account_id, u.fields->'account_id'->>'v') AS account_id
FROM events e
LEFT JOIN identities by_user
       ON by_user.workspace_id = e.workspace_id AND by_user.alias = e.user_id
LEFT JOIN identities by_anonymous
       ON by_anonymous.workspace_id = e.workspace_id AND by_anonymous.alias = e.anonymous_id
CROSS JOIN LATERAL (
    SELECT COALESCE(by_user.user_id, e.user_id, by_anonymous.user_id) AS user_id
) AS r
LEFT JOIN users u ON u.workspace_id = e.workspace_id AND u.user_id = r.user_id
"""


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("alias", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("t", sa.BigInteger(), nullable=False),
        sa.Column("m", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "alias", name="pk_identities"),
    )
    op.execute(RESOLVED_EVENTS)


def downgrade() -> None:
    op.execute("DROP VIEW resolved_events")
    op.drop_table("identities")
