"""Property: whatever the delivery order, and with duplicates, the projections are the same."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulsegate.db.engine import create_engine
from pulsegate.projection import service
from pulsegate.settings import Settings
from tests.support.journeys import CONVERSATION
from tests.support.projection import INSERT, caught_up


def deliver(database_url: str, order: list[dict[str, Any]]) -> uuid.UUID:
    """Store `order` in a new workspace, one transaction per message, as a writer would."""
    workspace = uuid.uuid4()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s)", (workspace, str(workspace))
        )
        for message in order:
            conn.execute(
                INSERT,
                (
                    workspace,
                    uuid.uuid4(),
                    message["messageId"],
                    message["type"],
                    message["timestamp"],
                    orjson.dumps(message).decode(),
                ),
            )
    return workspace


def project_all(database_url: str) -> None:
    """One message per batch, so every message after the first merges into stored rows (the
    cross-batch path), as when messages trickle in."""

    async def run() -> None:
        engine = create_engine(Settings(database_url=database_url).async_database_url)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                applied = await service.project_next_batch(engine, batch_size=1)
                if applied == 0 and caught_up(database_url):
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the projector did not catch up")
        finally:
            await engine.dispose()

    asyncio.run(run())


def state(database_url: str, workspace: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        accounts = conn.execute(
            "SELECT account_id, fields, first_seen, last_seen FROM accounts "
            "WHERE workspace_id = %s ORDER BY account_id",
            (workspace,),
        ).fetchall()
        users = conn.execute(
            "SELECT user_id, fields, first_seen, last_seen FROM users "
            "WHERE workspace_id = %s ORDER BY user_id",
            (workspace,),
        ).fetchall()
    return {"accounts": accounts, "users": users}


deliveries = st.permutations(CONVERSATION).flatmap(
    lambda order: st.lists(st.sampled_from(order), max_size=4).map(lambda again: order + again)
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=deliveries)
def test_any_order_with_duplicates_gives_the_state_of_ordered_delivery(
    database_url: str, order: list[dict[str, Any]]
) -> None:
    ordered = deliver(database_url, CONVERSATION)
    shuffled = deliver(database_url, order)
    project_all(database_url)
    assert state(database_url, shuffled) == state(database_url, ordered)
