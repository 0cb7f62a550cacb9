"""Migrations: empty database to head, back to base, and to head again."""

from __future__ import annotations

import psycopg

from pulsegate.db import migrate
from pulsegate.storage.partitions import is_partition

TABLES = {
    "workspaces",
    "sources",
    "api_keys",
    "admin_tokens",
    "audit_log",
    "rate_windows",
    "erasures",
    "suppressions",
    "inbound_messages",
    "message_ids",
    "archived_objects",
    "archive_days",
    "restored_messages",
    "rejected_messages",
    "projector_positions",
    "replay_kept",
    "projection_failures",
    "events",
    "accounts",
    "users",
    "projection_notes",
    "identities",
    "account_choices",
    "custom_fields",
    "custom_field_settings",
    "trait_mappings",
    "metric_values",
    "sessions",
    "session_dirty",
    "rate_budget_uses",
    "destinations",
    "deliveries",
    "reverse_sync_rules",
    "reverse_sync_values",
    "reverse_sync_runs",
    "reverse_sync_items",
    "connectors",
    "connector_runs",
    "connector_issues",
    "job_runs",
    "health_score_configs",
    "health_scores",
}


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in found if not is_partition(row[0])}


def test_upgrade_downgrade_upgrade(scratch_database: str) -> None:
    assert tables(scratch_database) == set()
    migrate.upgrade(scratch_database)
    assert tables(scratch_database) == TABLES | {"alembic_version"}
    migrate.downgrade(scratch_database, "base")
    assert tables(scratch_database) == {"alembic_version"}
    migrate.upgrade(scratch_database)
    assert tables(scratch_database) == TABLES | {"alembic_version"}
    with psycopg.connect(scratch_database) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == (migrate.head_revision(),)


def test_models_match_the_migrations(scratch_database: str) -> None:
    """Autogenerate finds nothing to do: the hand-written migration matches the models."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    from pulsegate.db.models import Base
    from pulsegate.settings import to_driver_url
    from pulsegate.storage.partitions import is_partition

    migrate.upgrade(scratch_database)
    engine = create_engine(to_driver_url(scratch_database))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_name": lambda name, kind, _: not (kind == "table" and is_partition(name))
            },
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []
