"""Reading a projector batch's messages from the log.

A batch is messages of one workspace whose ids lie in a range. Every statement that reads one
bounds the log's primary key `(workspace_id, id)` by that range (given only `id = ANY(ids)`
beside the workspace, the planner scanned all of the workspace's messages: 250 ms a statement
on a workspace of 25,000 messages, growing with the workspace; bench/README.md).

Most batches are *whole*: every message of the workspace in their range, of the types the
statement reads (the projector's batches are the log's next messages, up to the watermark).
The range then says it all, and the list of ids is not sent. Only a batch that skips messages
of its range (a replay of a time range) is checked against its ids as well: that check cost
each statement about 15 µs a message, an eighth of a message's whole cost in PostgreSQL, when
every batch made it (bench/README.md "CPU per message").
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

# Where a batch's messages are read from: the log, or the archived messages a replay brought
# back into `restored_messages` (pulsegate.projection.replay), which has the log's columns.
LOG = "inbound_messages"
RESTORED = "restored_messages"

# `whole` is a parameter, so a planned statement drops the check (`true OR ...`) and a prepared
# one skips it at its first operand. bigint[]: an array of the column's type is hashed once
# per statement instead of searched once per row.
IN_BATCH = (
    "m.workspace_id = %(w)s AND m.id BETWEEN %(first)s AND %(last)s"
    " AND (%(whole)s OR m.id = ANY(%(ids)s::bigint[]))"
)


def batch_parameters(
    workspace_id: uuid.UUID, ids: Sequence[int], *, whole: bool = False
) -> dict[str, object]:
    """The parameters `IN_BATCH` takes, for a non-empty list of ids; `whole` when they are every
    message of the workspace in their range that the statement reads."""
    return {
        "w": workspace_id,
        "ids": [] if whole else list(ids),
        "first": min(ids),
        "last": max(ids),
        "whole": whole,
    }


def reading(statement: str, log: str) -> str:
    """The statement with its batch read from `log` (LOG or RESTORED)."""
    if log not in (LOG, RESTORED):
        raise ValueError(f"not a table of messages: {log}")
    return statement if log == LOG else statement.replace(f"FROM {LOG} m", f"FROM {log} m")
