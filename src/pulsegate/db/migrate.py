"""Run the Alembic migrations from code (`pulsegate migrate`, `serve`, and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from pulsegate.settings import to_driver_url


def migrations_dir() -> Path:
    """Inside the package for a wheel install, at the repository root for an editable one."""
    packaged = Path(__file__).resolve().parent.parent / "migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # Alembic runs synchronously; psycopg 3 serves both sync and async with the same URL.
    config.set_main_option("sqlalchemy.url", to_driver_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    return script.get_current_head()
