"""The database a benchmark runs on: PULSEGATE_DATABASE_URL, else a fresh embedded one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pulsegate.db import migrate


def migrated_database_url() -> str:
    url = os.environ.get("PULSEGATE_DATABASE_URL")
    if not url:
        from pulsegate.db.embedded import start_embedded_postgres

        url = start_embedded_postgres(Path(tempfile.mkdtemp(prefix="pulsegate-bench-")))
    migrate.upgrade(url)
    return url
