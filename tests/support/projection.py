"""Writing straight into the log and waiting for the projector, for projection tests."""

from __future__ import annotations

from tests.support.database import Rows

# One message into the log, deduplicated by its id as the writer does (through the dedup
# window of `message_ids`): parameters workspace, source, messageId, type, timestamp, JSON.
INSERT = """
WITH sent (workspace_id, source_id, message_id, type, timestamp, message) AS (
    VALUES (%s::uuid, %s::uuid, %s::text, %s::text, %s::timestamptz, %s::jsonb)
),
new AS (
    INSERT INTO message_ids (workspace_id, message_id, received_at)
    SELECT s.workspace_id, s.message_id, now() FROM sent s
    WHERE NOT EXISTS (SELECT 1 FROM message_ids m
                      WHERE m.workspace_id = s.workspace_id AND m.message_id = s.message_id)
    ON CONFLICT DO NOTHING
    RETURNING workspace_id, message_id
)
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
SELECT s.workspace_id, s.source_id, s.message_id, s.type, now(), s.timestamp, s.message
FROM sent s JOIN new USING (workspace_id, message_id)
"""


def caught_up(database_url: str) -> bool:
    return Rows(database_url).projected()
