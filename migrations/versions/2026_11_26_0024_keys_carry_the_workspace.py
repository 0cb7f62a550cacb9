"""Every domain table's keys carry `workspace_id`, ready to be distributed by it.

Past one PostgreSQL primary, pulsegate's path is Citus with `workspace_id` as the distribution
column (docs/operations.md, "Keys ready to distribute"): a distributed table's primary key and
unique constraints must include it, and a foreign key between two distributed tables must join on
it. So the tables keyed by a surrogate id alone are keyed `(workspace_id, id)`, the unique
constraints gain `workspace_id`, the child tables without it (`connector_issues`,
`reverse_sync_items`, `reverse_sync_values`) get it from their parent, and every foreign key between
domain tables carries it. Global tables (workspaces and the credentials looked up before the
workspace is known, job runs, rate budgets, the archive's days) stay as they are;
tests/test_schema_rules.py holds the rule.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table: its primary key, before and after
_KEYS = {
    "accounts": ("id", "workspace_id, id"),
    "users": ("id", "workspace_id, id"),
    "sessions": ("id", "workspace_id, id"),
    "custom_fields": ("id", "workspace_id, id"),
    "destinations": ("id", "workspace_id, id"),
    "connectors": ("id", "workspace_id, id"),
    "connector_runs": ("id", "workspace_id, id"),
    "connector_issues": ("id", "workspace_id, id"),
    "reverse_sync_rules": ("id", "workspace_id, id"),
    "reverse_sync_runs": ("id", "workspace_id, id"),
    "reverse_sync_items": ("id", "workspace_id, id"),
    "reverse_sync_values": ("rule_id, entity_id", "workspace_id, rule_id, entity_id"),
    "projection_failures": ("inbound_message_id", "workspace_id, inbound_message_id"),
    "projection_notes": ("inbound_message_id, code", "workspace_id, inbound_message_id, code"),
}
# child, its column, parent
_FOREIGN_KEYS = (
    ("connector_runs", "connector_id", "connectors"),
    ("connector_issues", "run_id", "connector_runs"),
    ("reverse_sync_rules", "destination_id", "destinations"),
    ("reverse_sync_values", "rule_id", "reverse_sync_rules"),
    ("reverse_sync_items", "run_id", "reverse_sync_runs"),
)
# child without workspace_id: the parent it takes it from
_GIVEN_BY_PARENT = (
    ("connector_issues", "run_id", "connector_runs"),
    ("reverse_sync_items", "run_id", "reverse_sync_runs"),
    ("reverse_sync_values", "rule_id", "reverse_sync_rules"),
)


def _fk_name(child: str, column: str, parent: str) -> str:
    return f"fk_{child}_{column}_{parent}"


def upgrade() -> None:
    for child, column, parent in _FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT {_fk_name(child, column, parent)}")
    for child, column, parent in _GIVEN_BY_PARENT:
        op.execute(f"ALTER TABLE {child} ADD COLUMN workspace_id uuid")
        op.execute(
            f"UPDATE {child} c SET workspace_id = p.workspace_id FROM {parent} p "
            f"WHERE p.id = c.{column}"
        )
        op.execute(f"ALTER TABLE {child} ALTER COLUMN workspace_id SET NOT NULL")
    for table, (_, key) in _KEYS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    op.execute(
        "ALTER TABLE reverse_sync_rules "
        "DROP CONSTRAINT uq_reverse_sync_rules_destination_id_target_field"
    )
    op.execute(
        "ALTER TABLE reverse_sync_rules ADD CONSTRAINT "
        "uq_reverse_sync_rules_workspace_id_destination_id_target_field "
        "UNIQUE (workspace_id, destination_id, target, field)"
    )
    for child, column, parent in _FOREIGN_KEYS:
        op.execute(
            f"ALTER TABLE {child} ADD CONSTRAINT {_fk_name(child, 'workspace_id', parent)} "
            f"FOREIGN KEY (workspace_id, {column}) REFERENCES {parent} (workspace_id, id) "
            "ON DELETE CASCADE"
        )


def downgrade() -> None:
    for child, _, parent in _FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT {_fk_name(child, 'workspace_id', parent)}")
    op.execute(
        "ALTER TABLE reverse_sync_rules DROP CONSTRAINT "
        "uq_reverse_sync_rules_workspace_id_destination_id_target_field"
    )
    op.execute(
        "ALTER TABLE reverse_sync_rules ADD CONSTRAINT "
        "uq_reverse_sync_rules_destination_id_target_field UNIQUE (destination_id, target, field)"
    )
    for table, (key, _) in _KEYS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    for child, _, _ in _GIVEN_BY_PARENT:
        op.execute(f"ALTER TABLE {child} DROP COLUMN workspace_id")
    for child, column, parent in _FOREIGN_KEYS:
        op.execute(
            f"ALTER TABLE {child} ADD CONSTRAINT {_fk_name(child, column, parent)} "
            f"FOREIGN KEY ({column}) REFERENCES {parent} (id) ON DELETE CASCADE"
        )
