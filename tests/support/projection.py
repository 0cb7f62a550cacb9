"""Writing straight into the log and waiting for the projector, for projection tests."""

from __future__ import annotations

from tests.support.database import Rows

INSERT = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
VALUES (%s, %s, %s, %s, now(), %s, %s)
ON CONFLICT (workspace_id, message_id) DO NOTHING
"""


def caught_up(database_url: str) -> bool:
    return Rows(database_url).projected()
