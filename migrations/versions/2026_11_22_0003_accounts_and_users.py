"""Accounts and users, with per-field last-writer-wins merging.

Fields are stored as `{name: {"v": value, "t": event time in µs, "m": messageId}}`.
`pulsegate_merge_fields` keeps, per field, the entry with the larger (t, m). That merge is
commutative and associative, so a batch can be aggregated in any order and shuffled or
duplicated delivery ends in the same state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEWER = """
CREATE FUNCTION pulsegate_newer_field(a jsonb, b jsonb) RETURNS jsonb
IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE
        WHEN a IS NULL THEN b
        WHEN b IS NULL THEN a
        WHEN ((b->>'t')::bigint, b->>'m') > ((a->>'t')::bigint, a->>'m') THEN b
        ELSE a
    END
$$
"""

MERGE = """
CREATE FUNCTION pulsegate_merge_fields(old jsonb, new jsonb) RETURNS jsonb
IMMUTABLE LANGUAGE sql AS $$
    SELECT COALESCE(jsonb_object_agg(k, pulsegate_newer_field(old->k, new->k)), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(COALESCE(old, '{}'::jsonb))
          UNION
          SELECT jsonb_object_keys(COALESCE(new, '{}'::jsonb))) AS keys(k)
$$
"""

AGGREGATE = """
CREATE AGGREGATE pulsegate_merge_fields_agg(jsonb) (
    SFUNC = pulsegate_merge_fields, STYPE = jsonb, INITCOND = '{}'
)
"""


def _entity_table(name: str, key: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column(key, sa.Text(), nullable=False),
        sa.Column("fields", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.UniqueConstraint("workspace_id", key, name=f"uq_{name}_workspace_id_{key}"),
    )


def upgrade() -> None:
    op.execute(NEWER)
    op.execute(MERGE)
    op.execute(AGGREGATE)
    _entity_table("accounts", "account_id")
    _entity_table("users", "user_id")
    op.create_table(
        "projection_notes",
        sa.Column("inbound_message_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("inbound_message_id", "code", name="pk_projection_notes"),
    )
    op.create_index("ix_projection_notes_workspace_id", "projection_notes", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("projection_notes")
    op.drop_table("users")
    op.drop_table("accounts")
    op.execute("DROP AGGREGATE pulsegate_merge_fields_agg(jsonb)")
    op.execute("DROP FUNCTION pulsegate_merge_fields(jsonb, jsonb)")
    op.execute("DROP FUNCTION pulsegate_newer_field(jsonb, jsonb)")
