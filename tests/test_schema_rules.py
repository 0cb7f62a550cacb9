"""The schema's keys are ready to be distributed by workspace.

docs/operations.md, "Keys ready to distribute", says why.

Past one PostgreSQL primary, pulsegate's path is Citus, distributing every domain table by
`workspace_id`: a distributed table's primary key and unique constraints must hold the
distribution column (and a partitioned table's, its partition column), and a foreign key
between two distributed tables must join on it. This test reads the migrated schema and
fails on any table that breaks the rule, unless it is one of the global tables below.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

import psycopg

from pulsegate.db import migrate

# Tables that are not a tenant's data, or are read before the tenant is known; in Citus they
# would be reference tables (copied to every node), which any table may reference.
GLOBAL = {
    "workspaces": "the tenants themselves",
    "sources": "looked up by the write key's hash before the workspace is known",
    "api_keys": "looked up by the key's hash before the workspace is known",
    "admin_tokens": "the operator's credentials, no workspace's",
    "job_runs": "runs of the gateway's jobs, across workspaces",
    "rate_budget_uses": "a Freshsales account's rate budget, which workspaces may share",
    "archive_days": "a day of the log's partition, shared by every workspace",
    "audit_log": "the operator's record of administrative actions, kept after a workspace goes",
    "alembic_version": "the schema's own revision",
}


def constraints(database_url: str) -> dict[str, list[tuple[str, str, list[str], str | None]]]:
    """By table (partitions left out): each primary key, unique and foreign key constraint as
    (kind, name, its columns, the referenced table)."""
    found: dict[str, list[tuple[str, str, list[str], str | None]]] = defaultdict(list)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT t.relname, c.contype, c.conname,
                   array(SELECT a.attname FROM unnest(c.conkey) AS k(n)
                         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
                   r.relname
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            LEFT JOIN pg_class r ON r.oid = c.confrelid
            WHERE c.contype IN ('p', 'u', 'f') AND NOT t.relispartition
              AND t.relnamespace = current_schema()::regnamespace
            """
        ).fetchall()
    for table, kind, name, columns, referenced in rows:
        found[table].append((kind, name, list(columns), referenced))
    return found


def partition_columns(database_url: str) -> dict[str, list[str]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            """
            SELECT t.relname, array(SELECT a.attname FROM unnest(p.partattrs) AS k(n)
                                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.n)
            FROM pg_partitioned_table p JOIN pg_class t ON t.oid = p.partrelid
            WHERE t.relnamespace = current_schema()::regnamespace
            """
        ).fetchall()
    return {table: list(columns) for table, columns in rows}


def violations(database_url: str) -> list[str]:
    """Each primary key, unique constraint and foreign key that breaks the rule."""
    by_table = constraints(database_url)
    partitioned = partition_columns(database_url)
    broken = []
    for table, found in sorted(by_table.items()):
        if table in GLOBAL:
            continue
        if not any(kind == "p" for kind, *_ in found):
            broken.append(f"{table}: no primary key")
        for kind, name, columns, referenced in found:
            if kind in ("p", "u"):
                needed = ["workspace_id", *partitioned.get(table, [])]
                missing = [column for column in needed if column not in columns]
                if missing:
                    broken.append(f"{table}.{name} {columns} lacks {missing}")
            elif referenced not in GLOBAL and "workspace_id" not in columns:
                broken.append(f"{table}.{name} {columns} -> {referenced} lacks workspace_id")
    return broken


def test_every_domain_table_is_keyed_by_workspace_and_its_time_partition(
    database_url: str,
) -> None:
    assert violations(database_url) == []


def test_a_table_keyed_without_its_workspace_breaks_the_rule(scratch_database: str) -> None:
    migrate.upgrade(scratch_database)
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id bigint PRIMARY KEY, workspace_id uuid NOT NULL)")
        conn.execute(
            "CREATE TABLE note_tags (workspace_id uuid, note_id bigint REFERENCES notes (id), "
            "tag text, PRIMARY KEY (workspace_id, note_id, tag))"
        )
    assert violations(scratch_database) == [
        "note_tags.note_tags_note_id_fkey ['note_id'] -> notes lacks workspace_id",
        "notes.notes_pkey ['id'] lacks ['workspace_id']",
    ]
    # Each exception names a table of the schema, so none outlives its table unnoticed.
    assert set(GLOBAL) <= set(constraints(scratch_database))


def test_the_migration_gives_every_child_row_its_workspace(scratch_database: str) -> None:
    """Rows stored before 0024 in the tables it rekeys keep their ids, children take their
    parent's workspace, and a deleted parent still takes its children with it."""
    migrate.upgrade(scratch_database, "0023")
    workspace, connector, destination, rule = (uuid.uuid4() for _ in range(4))
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        conn.execute("INSERT INTO workspaces (id, name) VALUES (%s, 'keys')", (workspace,))
        conn.execute(
            "INSERT INTO connectors (id, workspace_id, kind, name, settings, mappings, match, "
            "filters) VALUES (%s, %s, 'csv', 'c', '{}', '[]', '{}', '{}')",
            (connector, workspace),
        )
        [[run]] = conn.execute(
            "INSERT INTO connector_runs (connector_id, workspace_id, trigger, status, full_pull, "
            "started_at, counts, progress) VALUES (%s, %s, 'manual', 'succeeded', true, now(), "
            "'{}', '{}') RETURNING id",
            (connector, workspace),
        ).fetchall()
        conn.execute(
            "INSERT INTO connector_issues (run_id, kind, object, reason) "
            "VALUES (%s, 'invalid', 'account', 'r')",
            (run,),
        )
        conn.execute(
            "INSERT INTO destinations (id, workspace_id, kind, name, domain, api_key_encrypted, "
            "message_types, event_mappings, per_minute, per_hour, retry_hours, enabled) "
            "VALUES (%s, %s, 'freshsales', 'd', 'x', 'k', '{track}', '[]', 1, 1, 1, true)",
            (destination, workspace),
        )
        conn.execute(
            "INSERT INTO reverse_sync_rules (id, workspace_id, destination_id, source, target, "
            "field, match_field) VALUES (%s, %s, %s, 'health_score', 'sales_account', 'f', 'name')",
            (rule, workspace, destination),
        )
        conn.execute(
            "INSERT INTO reverse_sync_values (rule_id, entity_id, match_value, value, pushed_at) "
            "VALUES (%s, 'acme', 'Acme', '1', now())",
            (rule,),
        )
        [[push]] = conn.execute(
            "INSERT INTO reverse_sync_runs (workspace_id, trigger, status, started_at, counts) "
            "VALUES (%s, 'manual', 'succeeded', now(), '{}') RETURNING id",
            (workspace,),
        ).fetchall()
        conn.execute(
            "INSERT INTO reverse_sync_items (run_id, destination_id, target, entity_id, "
            "unique_identifier, fields, status, at) "
            "VALUES (%s, %s, 'sales_account', 'acme', '{}', '{}', 'sent', now())",
            (push, destination),
        )

    migrate.upgrade(scratch_database)

    with psycopg.connect(scratch_database, autocommit=True) as conn:
        for table, key, value in (
            ("connector_issues", "run_id", run),
            ("reverse_sync_items", "run_id", push),
            ("reverse_sync_values", "rule_id", rule),
        ):
            rows = conn.execute(
                f"SELECT workspace_id FROM {table} WHERE {key} = %s", (value,)
            ).fetchall()
            assert rows == [(workspace,)], table
        conn.execute("DELETE FROM connectors WHERE id = %s", (connector,))
        conn.execute("DELETE FROM destinations WHERE id = %s", (destination,))
        for table in ("connector_runs", "connector_issues", "reverse_sync_rules"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
        assert conn.execute("SELECT count(*) FROM reverse_sync_values").fetchall() == [(0,)]
