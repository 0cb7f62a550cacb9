"""Synthetic log rows written straight into the log, for benchmarks that need volume fast.

`fill` writes `n` analytics.js-shaped track calls a day for each of `days` into the log of one
workspace and source (their day partitions made first), in SQL, and moves the projector's
position past them: the benchmark decides what is projected. With `dedup` it also records
their ids in the dedup window (`message_ids`), as the writer would for recent days. bench/fill.py
sends realistic traffic through the HTTP API instead, at the API's speed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from pulsegate.db.engine import create_engine
from pulsegate.settings import Settings
from pulsegate.storage import partitions

_FILL = """
INSERT INTO inbound_messages
    (workspace_id, source_id, message_id, type, received_at, timestamp, message)
SELECT %(w)s, %(s)s, m.id, 'track', m.at, m.at, jsonb_build_object(
    'type', 'track', 'messageId', m.id, 'userId', 'user-' || (n %% 40000),
    'anonymousId', md5('anon' || (n %% 40000)), 'event', 'Report Built',
    'properties', jsonb_build_object('module', 'Reports', 'feature', 'Export ' || (n %% 12)),
    'context', jsonb_build_object(
        'library', jsonb_build_object('name', 'analytics.js', 'version', 'npm:next-1.70.0'),
        'page', jsonb_build_object('path', '/reports/' || (n %% 50), 'title', 'Reports',
                                   'url', 'https://app.example.com/reports/' || (n %% 50)),
        'userAgent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari',
        'locale', 'en-US', 'ip', '203.0.113.' || (n %% 250)),
    'timestamp', to_char(m.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'receivedAt', to_char(m.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
FROM generate_series(1, %(n)s) AS n
CROSS JOIN LATERAL (
    SELECT 'bench-' || %(day)s || '-' || n AS id,
           %(start)s::timestamptz + (n * interval '86399 seconds' / %(n)s) AS at
) AS m
"""

_WINDOW = """
INSERT INTO message_ids (workspace_id, message_id, received_at)
SELECT workspace_id, message_id, received_at FROM inbound_messages
WHERE workspace_id = %(w)s AND received_at >= %(start)s::timestamptz
  AND received_at < %(start)s::timestamptz + interval '1 day'
"""


async def fill(
    url: str,
    workspace_id: uuid.UUID,
    source_id: uuid.UUID,
    days: list[date],
    n: int,
    *,
    dedup: bool = False,
) -> None:
    engine = create_engine(Settings(database_url=url).async_database_url)
    async with engine.begin() as connection:
        for day in days:
            await partitions.create_partition(connection, partitions.INBOUND_MESSAGES, day)
            if dedup:
                await partitions.create_partition(connection, partitions.MESSAGE_IDS, day)
    for day in days:
        parameters = {
            "w": workspace_id,
            "s": source_id,
            "n": n,
            "day": day.isoformat(),
            "start": datetime.combine(day, datetime.min.time(), tzinfo=UTC),
        }
        async with engine.begin() as connection:
            await connection.exec_driver_sql(_FILL, parameters)
            if dedup:
                await connection.exec_driver_sql(_WINDOW, parameters)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO projector_positions (workspace_id, last_id, updated_at) "
            "SELECT %(w)s, max(id), now() FROM inbound_messages WHERE workspace_id = %(w)s "
            "ON CONFLICT (workspace_id) DO UPDATE SET last_id = EXCLUDED.last_id",
            {"w": workspace_id},
        )
    await engine.dispose()
