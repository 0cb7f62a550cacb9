"""`pulsegate replay` as a user runs it: the CLI in its own process."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.servers import cli_json
from tests.support.tenants import SECRET_KEY, Tenant


async def run_replay(
    database_url: str, tmp_path: Path, tenant: Tenant, *extra: str
) -> dict[str, Any]:
    """In a thread: the app's projector shares this event loop and must go on meanwhile."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PULSEGATE_DATABASE_URL": database_url,
        "PULSEGATE_DATA_DIR": str(tmp_path),
        "PULSEGATE_SECRET_KEY": SECRET_KEY,
    }
    return await asyncio.to_thread(
        cli_json, env, "replay", "--workspace", str(tenant.workspace_id), *extra
    )
