"""Reading a projector batch's messages from the log.

A batch is messages of one workspace whose ids lie in a range. Every statement that reads one
bounds the log's primary key `(workspace_id, id)` by that range, then keeps the batch's ids:
given only `id = ANY(ids)` beside the workspace, the planner scanned all of the workspace's
messages and rechecked each one (250 ms a statement on a workspace of 25,000 messages, growing
with the workspace; bench/README.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

# Where a batch's messages are read from: the log, or the archived messages a replay brought
# back into `restored_messages` (pulsegate.projection.replay), which has the log's columns.
LOG = "inbound_messages"
RESTORED = "restored_messages"

IN_BATCH = "m.workspace_id = %(w)s AND m.id BETWEEN %(first)s AND %(last)s AND m.id = ANY(%(ids)s)"


def batch_parameters(workspace_id: uuid.UUID, ids: Sequence[int]) -> dict[str, object]:
    """The parameters `IN_BATCH` takes, for a non-empty list of ids."""
    return {"w": workspace_id, "ids": list(ids), "first": min(ids), "last": max(ids)}


def reading(statement: str, log: str) -> str:
    """The statement with its batch read from `log` (LOG or RESTORED)."""
    if log not in (LOG, RESTORED):
        raise ValueError(f"not a table of messages: {log}")
    return statement if log == LOG else statement.replace(f"FROM {LOG} m", f"FROM {log} m")
