"""Alembic environment: online migrations only, serialised by an advisory lock.

Several replicas may start at once; the lock makes the second wait for the first and then find
nothing to do.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool, text

from pulsegate.db.models import Base
from pulsegate.settings import to_driver_url
from pulsegate.storage.partitions import is_partition

MIGRATION_LOCK_ID = 0x70756C7365  # "pulse"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves the day partitions alone: the models declare the partitioned
    table, and storage maintenance makes and drops its partitions."""
    return not (type_ == "table" and name is not None and is_partition(name))


config = context.config
url = config.get_main_option("sqlalchemy.url") or to_driver_url(
    os.environ["PULSEGATE_DATABASE_URL"]
)

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    connection.commit()
    try:
        context.configure(
            connection=connection, target_metadata=Base.metadata, include_name=include_name
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()
engine.dispose()
