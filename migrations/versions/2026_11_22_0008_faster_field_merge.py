"""Short-circuit the field merge when either side is empty (the common case).

Profiling the projector showed most of its time in `pulsegate_merge_fields`, mostly merging
empty objects (a track call only "sees" its user). Same results, less work.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAST = """
CREATE OR REPLACE FUNCTION pulsegate_merge_fields(old jsonb, new jsonb) RETURNS jsonb
IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE
        WHEN new IS NULL OR new = '{}'::jsonb THEN COALESCE(old, '{}'::jsonb)
        WHEN old IS NULL OR old = '{}'::jsonb THEN new
        ELSE (SELECT jsonb_object_agg(k, pulsegate_newer_field(old->k, new->k))
              FROM (SELECT jsonb_object_keys(old) UNION SELECT jsonb_object_keys(new)) AS keys(k))
    END
$$
"""

ORIGINAL = """
CREATE OR REPLACE FUNCTION pulsegate_merge_fields(old jsonb, new jsonb) RETURNS jsonb
IMMUTABLE LANGUAGE sql AS $$
    SELECT COALESCE(jsonb_object_agg(k, pulsegate_newer_field(old->k, new->k)), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(COALESCE(old, '{}'::jsonb))
          UNION
          SELECT jsonb_object_keys(COALESCE(new, '{}'::jsonb))) AS keys(k)
$$
"""


def upgrade() -> None:
    op.execute(FAST)


def downgrade() -> None:
    op.execute(ORIGINAL)
