"""Time partitions: made ahead, rows waiting in the default partition adopted, days past
retention dropped whole; on a simulated clock over months, with every row accounted for.

Runs on a database of its own: it moves its clock across months and drops whole days, which
would take other tests' rows with them on the shared database.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db import migrate
from pulsegate.db.engine import create_engine
from pulsegate.ingest.repository import InboundRow, insert_inbound
from pulsegate.settings import Settings
from pulsegate.storage import partitions
from tests.support.database import Rows

RETENTION: dict[str, int | None] = {
    "inbound_messages": None,
    "message_ids": 8,
    "rejected_messages": 30,
    "deliveries": 30,
    "events": 395,
}
START = date(2026, 1, 1)


@pytest.fixture
def engine(scratch_engine: AsyncEngine) -> AsyncEngine:
    return scratch_engine


def refuse(rows: Rows, workspace: uuid.UUID, at: datetime, number: int) -> None:
    rows.query(
        "INSERT INTO rejected_messages (workspace_id, received_at, endpoint, message_id, "
        "raw_body, body_truncated, reasons) "
        "VALUES (%s, %s, '/v1/track', %s, '{}', false, '[]') RETURNING id",
        workspace,
        at,
        f"m-{number}",
    )


def kept(rows: Rows) -> list[str]:
    return [r["message_id"] for r in rows.query("SELECT message_id FROM rejected_messages")]


def days_of(rows: Rows) -> list[date]:
    names = rows.query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'rejected_messages'::regclass"
    )
    return sorted(
        date.fromisoformat(n["name"].rsplit("_p", 1)[1])
        for n in names
        if n["name"] != "rejected_messages_default"
    )


async def test_partitions_are_made_ahead_and_dropped_past_retention_over_months(
    engine: AsyncEngine, scratch_database: str
) -> None:
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'partitions') RETURNING id", uuid.uuid4()
    )
    workspace_id = workspace["id"]
    # A refusal at noon of every day from January to the end of April, the maintenance job
    # running each morning (as the daily `retention` job does at 04:30).
    sent: dict[str, date] = {}
    day = START
    number = 0
    while day <= date(2026, 4, 30):
        await partitions.maintain(engine, today=day, retention_days=RETENTION)
        ahead = {day + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)}
        assert ahead <= set(days_of(rows))
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        refuse(rows, workspace_id, noon, number)
        sent[f"m-{number}"] = day
        number += 1
        day += timedelta(days=1)

    today = date(2026, 4, 30)
    oldest_kept = today - timedelta(days=30)
    assert days_of(rows)[0] == oldest_kept  # whole days past retention are gone
    assert sorted(kept(rows)) == sorted(m for m, d in sent.items() if d >= oldest_kept)
    [waiting] = rows.query("SELECT count(*) AS n FROM rejected_messages_default")
    assert waiting["n"] == 0  # every row went into its day's partition


async def test_a_workspace_plan_keeps_its_refused_messages_longer_or_shorter(
    engine: AsyncEngine, scratch_database: str
) -> None:
    rows = Rows(scratch_database)
    standard, longer, shorter = (
        rows.query(
            "INSERT INTO workspaces (id, name) VALUES (%s, %s) RETURNING id", uuid.uuid4(), name
        )[0]["id"]
        for name in ("standard", "longer", "shorter")
    )
    plans = {"rejected_messages": {longer: 45, shorter: 10}}
    sent: dict[uuid.UUID, dict[str, date]] = {standard: {}, longer: {}, shorter: {}}
    day, number = START, 0
    while day <= START + timedelta(days=69):
        await partitions.maintain(engine, today=day, retention_days=RETENTION, overrides=plans)
        for workspace in sent:
            refuse(rows, workspace, datetime(day.year, day.month, day.day, 12, tzinfo=UTC), number)
            sent[workspace][f"m-{number}"] = day
            number += 1
        day += timedelta(days=1)

    today = day - timedelta(days=1)
    for workspace, kept_days in ((standard, 30), (longer, 45), (shorter, 10)):
        found = rows.query(
            "SELECT message_id FROM rejected_messages WHERE workspace_id = %s", workspace
        )
        first = today - timedelta(days=kept_days)
        assert sorted(r["message_id"] for r in found) == sorted(
            m for m, d in sent[workspace].items() if d >= first
        ), kept_days
    assert days_of(rows)[0] == today - timedelta(days=30)  # the partitions follow the global


async def test_events_are_kept_thirteen_months_a_month_at_a_time(
    engine: AsyncEngine, scratch_database: str
) -> None:
    """An event a day over twenty months, with the job each morning: months wholly past the
    395 days are dropped, the others made ahead and kept; an event whose device clock is
    years off waits in the default partition instead of failing."""
    rows = Rows(scratch_database)
    workspace = uuid.uuid4()
    sent: dict[str, date] = {}
    day = START
    while day <= date(2027, 8, 31):
        await partitions.maintain(engine, today=day, retention_days=RETENTION)
        rows.query(
            "INSERT INTO events (workspace_id, message_id, type, timestamp, properties) "
            "VALUES (%s, %s, 'track', %s, '{}') RETURNING id",
            workspace,
            f"e-{day}",
            datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
        )
        sent[f"e-{day}"] = day
        day += timedelta(days=1)
    rows.query(
        "INSERT INTO events (workspace_id, message_id, type, timestamp, properties) "
        "VALUES (%s, 'from-1999', 'track', '1999-12-31T23:00:00Z', '{}') RETURNING id",
        workspace,
    )

    today = date(2027, 8, 31)
    first_kept = (today - timedelta(days=395)).replace(day=1)  # the month it falls in stays
    months = days_of_table(rows, "events")
    assert months[0] == first_kept
    assert all(m.day == 1 for m in months)
    assert months[-1] == date(2027, 9, 1)  # made ahead
    kept = rows.query("SELECT message_id FROM events WHERE workspace_id = %s", workspace)
    assert sorted(r["message_id"] for r in kept) == sorted(
        [m for m, d in sent.items() if d >= first_kept] + ["from-1999"]
    )
    [waiting] = rows.query("SELECT message_id FROM events_default")
    assert waiting["message_id"] == "from-1999"


async def test_a_row_for_a_day_without_partition_waits_then_moves_into_it(
    engine: AsyncEngine, scratch_database: str
) -> None:
    """The job stopped for weeks: the days ahead ran out, and the rows of the days after
    went to the default partition; the next run makes their partitions and moves them."""
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'late') RETURNING id", uuid.uuid4()
    )
    await partitions.maintain(engine, today=START, retention_days=RETENTION)
    late = START + timedelta(days=partitions.DAYS_AHEAD + 10)
    for hour in range(3):
        refuse(
            rows, workspace["id"], datetime(late.year, late.month, late.day, hour, tzinfo=UTC), hour
        )
    [waiting] = rows.query("SELECT count(*) AS n FROM rejected_messages_default")
    assert waiting["n"] == 3

    await partitions.maintain(engine, today=START + timedelta(days=1), retention_days=RETENTION)

    [waiting] = rows.query("SELECT count(*) AS n FROM rejected_messages_default")
    assert waiting["n"] == 0
    assert late in days_of(rows)
    moved = rows.query(f"SELECT message_id FROM rejected_messages_p{late:%Y%m%d} ORDER BY 1")
    assert [m["message_id"] for m in moved] == ["m-0", "m-1", "m-2"]


def test_the_migration_keeps_every_refused_message_of_an_existing_database(
    scratch_database: str,
) -> None:
    """Refused messages stored by the schema before partitioning (0018), over several days,
    come through the migration each once, with their ids, in their day's partition; new ones
    number on from the highest id."""
    migrate.upgrade(scratch_database, "0018")
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'before') RETURNING id", uuid.uuid4()
    )
    now = datetime.now(UTC)
    for n in range(40):
        rows.query(
            "INSERT INTO rejected_messages (workspace_id, received_at, endpoint, message_id, "
            "raw_body, body_truncated, reasons) "
            "VALUES (%s, %s, '/v1/batch', %s, %s, false, '[{\"code\": \"x\"}]') RETURNING id",
            workspace["id"],
            now - timedelta(days=n // 4, hours=n % 4),
            f"old-{n}",
            f"body-{n}".encode(),
        )
    before = rows.query("SELECT * FROM rejected_messages ORDER BY id")

    migrate.upgrade(scratch_database)

    after = rows.query("SELECT * FROM rejected_messages ORDER BY id")
    assert after == before
    for row in after:
        day = row["received_at"].astimezone(UTC).date()
        [found] = rows.query(
            f"SELECT count(*) AS n FROM rejected_messages_p{day:%Y%m%d} WHERE id = %s", row["id"]
        )
        assert found["n"] == 1
    [new] = rows.query(
        "INSERT INTO rejected_messages (workspace_id, received_at, endpoint, raw_body, "
        "body_truncated, reasons) VALUES (%s, now(), '/v1/track', '', false, '[]') RETURNING id",
        workspace["id"],
    )
    assert new["id"] > max(row["id"] for row in before)


def deliver(rows: Rows, workspace: uuid.UUID, at: datetime, number: int, status: str) -> None:
    rows.query(
        "INSERT INTO deliveries (workspace_id, destination_id, inbound_message_id, received_at, "
        "message_id, ordering_key, status, attempts, next_attempt_at, created_at) "
        "VALUES (%s, %s, %s, %s, %s, 'u', %s, 1, %s, %s) RETURNING id",
        workspace,
        uuid.UUID(int=1),
        number,
        at,
        f"d-{number}",
        status,
        at,
        at,
    )


async def test_deliveries_past_retention_go_with_their_day_but_those_to_retry_stay(
    engine: AsyncEngine, scratch_database: str
) -> None:
    """Sent and skipped deliveries go with their day; pending, dead and rejected ones are
    moved into the default partition first, and stay there through later runs."""
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'outbox') RETURNING id", uuid.uuid4()
    )
    await partitions.maintain(engine, today=START, retention_days=RETENTION)
    noon = datetime(START.year, START.month, START.day, 12, tzinfo=UTC)
    statuses = ["sent", "skipped", "dead", "rejected", "pending", "sent"]
    for number, status in enumerate(statuses):
        deliver(rows, workspace["id"], noon, number, status)
    later = datetime(2026, 1, 20, 12, tzinfo=UTC)
    deliver(rows, workspace["id"], later, 100, "sent")

    for day in (date(2026, 2, 1), date(2026, 2, 2), date(2026, 3, 1)):
        await partitions.maintain(engine, today=day, retention_days=RETENTION)

    left = rows.query("SELECT message_id, status FROM deliveries ORDER BY message_id")
    assert left == [
        {"message_id": "d-2", "status": "dead"},
        {"message_id": "d-3", "status": "rejected"},
        {"message_id": "d-4", "status": "pending"},
    ]
    [waiting] = rows.query("SELECT count(*) AS n FROM deliveries_default")
    assert waiting["n"] == 3
    assert START not in days_of_table(rows, "deliveries")


def days_of_table(rows: Rows, table: str) -> list[date]:
    names = rows.query(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass",
        table,
    )
    return sorted(
        date.fromisoformat(n["name"].rsplit("_p", 1)[1])
        for n in names
        if not n["name"].endswith("_default")
    )


def test_the_migration_keeps_every_delivery_in_its_messages_day(scratch_database: str) -> None:
    """Deliveries stored before partitioning (0019) come through with their ids, each in the
    partition of its message's day, and queueing the same message again adds nothing."""
    migrate.upgrade(scratch_database, "0019")
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'deliveries') RETURNING id", uuid.uuid4()
    )
    now = datetime.now(UTC)
    for n in range(12):
        [message] = rows.query(
            "INSERT INTO inbound_messages (workspace_id, source_id, message_id, type, "
            "received_at, timestamp, message) VALUES (%s, %s, %s, 'track', %s, %s, '{}') "
            "RETURNING id",
            workspace["id"],
            uuid.uuid4(),
            f"msg-{n}",
            now - timedelta(days=n),
            now - timedelta(days=n),
        )
        rows.query(
            "INSERT INTO deliveries (workspace_id, destination_id, inbound_message_id, "
            "message_id, ordering_key, status, attempts, next_attempt_at, created_at) "
            "VALUES (%s, %s, %s, %s, 'u', 'sent', 1, now(), now()) RETURNING id",
            workspace["id"],
            uuid.UUID(int=7),
            message["id"],
            f"msg-{n}",
        )
    before = rows.query("SELECT * FROM deliveries ORDER BY id")

    migrate.upgrade(scratch_database)

    after = rows.query("SELECT * FROM deliveries ORDER BY id")
    assert [{k: v for k, v in row.items() if k != "received_at"} for row in after] == before
    for row in after:
        [message] = rows.query(
            "SELECT received_at FROM inbound_messages WHERE id = %s", row["inbound_message_id"]
        )
        assert row["received_at"] == message["received_at"]
        day = row["received_at"].astimezone(UTC).date()
        [found] = rows.query(
            f"SELECT count(*) AS n FROM deliveries_p{day:%Y%m%d} WHERE id = %s", row["id"]
        )
        assert found["n"] == 1


def inbound(workspace: uuid.UUID, message_id: str, at: datetime) -> InboundRow:
    return InboundRow(
        workspace_id=workspace,
        source_id=uuid.UUID(int=3),
        message_id=message_id,
        type="track",
        received_at=at,
        timestamp=at,
        message={"messageId": message_id, "type": "track", "event": "E"},
        warnings=None,
    )


async def store(engine: AsyncEngine, rows: list[InboundRow]) -> int:
    async with engine.begin() as connection:
        raw = await connection.get_raw_connection()  # the writer's functions take psycopg's
        return await insert_inbound(raw.driver_connection, rows, window=timedelta(days=7))


async def test_a_duplicate_inside_the_window_is_not_stored_and_the_window_stays_bounded(
    engine: AsyncEngine, scratch_database: str
) -> None:
    rows = Rows(scratch_database)
    workspace = uuid.uuid4()
    day = START
    stored: list[str] = []
    for n in range(40):  # forty days, the daily job each morning
        await partitions.maintain(engine, today=day, retention_days=RETENTION)
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        batch = [inbound(workspace, f"day-{n}", noon), inbound(workspace, f"day-{n}", noon)]
        if n >= 3:  # retried two and six days later: inside the window
            batch += [inbound(workspace, f"day-{n - 2}", noon)]
        if n >= 6:
            batch += [inbound(workspace, f"day-{n - 6}", noon)]
        if n >= 9:  # nine days later: past the window, stored as a new message
            batch += [inbound(workspace, f"day-{n - 9}", noon)]
        await store(engine, batch)
        stored += [f"day-{n}"] + ([f"day-{n - 9}"] if n >= 9 else [])
        day += timedelta(days=1)

    log = [
        r["message_id"] for r in rows.query("SELECT message_id FROM inbound_messages ORDER BY id")
    ]
    assert log == stored
    # The window holds the ids of its days only, however long the gateway runs.
    [window] = rows.query("SELECT count(*) AS n, min(received_at) AS oldest FROM message_ids")
    last = day - timedelta(days=1)  # weeks of it: the window's 8 days reach into 2 or 3
    assert window["oldest"].date() >= last - timedelta(days=8 + 6)
    assert window["n"] <= 2 * (8 + 7)
    weeks = [d for d in days_of_table(rows, "message_ids") if d <= last]
    assert len(weeks) <= 3
    assert weeks[0] <= last - timedelta(days=8) < weeks[0] + timedelta(days=7)


async def test_the_migration_keeps_the_log_and_seeds_the_window(scratch_database: str) -> None:
    """A log stored before partitioning (0020), over ten days, comes through each message
    once with its id, in its day; the window holds the ids of its days, so a retry of a
    recent message is still refused after the migration, and one of an old message is not."""
    migrate.upgrade(scratch_database, "0020")
    rows = Rows(scratch_database)
    [workspace] = rows.query(
        "INSERT INTO workspaces (id, name) VALUES (%s, 'log') RETURNING id", uuid.uuid4()
    )
    now = datetime.now(UTC)
    for n in range(30):
        rows.query(
            "INSERT INTO inbound_messages (workspace_id, source_id, message_id, type, "
            "received_at, timestamp, message) VALUES (%s, %s, %s, 'track', %s, %s, %s) "
            "RETURNING id",
            workspace["id"],
            uuid.UUID(int=5),
            f"log-{n}",
            now - timedelta(days=n // 3),
            now - timedelta(days=n // 3),
            f'{{"messageId": "log-{n}"}}',
        )
    before = rows.query("SELECT * FROM inbound_messages ORDER BY id")

    migrate.upgrade(scratch_database)

    assert rows.query("SELECT * FROM inbound_messages ORDER BY id") == before
    for row in before:
        day = row["received_at"].astimezone(UTC).date()
        [found] = rows.query(
            f"SELECT count(*) AS n FROM inbound_messages_p{day:%Y%m%d} WHERE id = %s", row["id"]
        )
        assert found["n"] == 1
    window = {r["message_id"] for r in rows.query("SELECT message_id FROM message_ids")}
    assert window == {
        row["message_id"] for row in before if row["received_at"] >= now - timedelta(days=7)
    }
    engine = create_engine(Settings(database_url=scratch_database).async_database_url)
    try:
        retries = [inbound(workspace["id"], "log-0", now), inbound(workspace["id"], "log-29", now)]
        assert await store(engine, retries) == 1  # log-29 is nine days old: past the window
    finally:
        await engine.dispose()
    [again] = rows.query("SELECT count(*) AS n FROM inbound_messages WHERE message_id = 'log-29'")
    assert again["n"] == 2


def test_the_migration_keeps_every_event_in_its_month(scratch_database: str) -> None:
    """Events stored before partitioning (0022), over fourteen months and one from a clock
    years off, come through each once with its id, attribution and session key, in its
    month (the far one in the default partition); new events number on after them."""
    migrate.upgrade(scratch_database, "0022")
    rows = Rows(scratch_database)
    workspace = uuid.uuid4()
    now = datetime.now(UTC)
    moments = [now - timedelta(days=30 * n) for n in range(14)] + [datetime(2001, 1, 1, tzinfo=UTC)]
    for n, moment in enumerate(moments):
        rows.query(
            "INSERT INTO events (workspace_id, message_id, type, timestamp, anonymous_id, "
            "user_id, properties, resolved_user_id, resolved_account_id) "
            "VALUES (%s, %s, 'track', %s, %s, 'u', '{\"n\": 1}', 'u', 'acme') RETURNING id",
            workspace,
            f"e-{n}",
            moment,
            f"anon-{n}" if n % 2 else None,
        )
    before = rows.query("SELECT * FROM events ORDER BY id")

    migrate.upgrade(scratch_database)

    assert rows.query("SELECT * FROM events ORDER BY id") == before
    for row in before[:-1]:
        month = row["timestamp"].astimezone(UTC).date().replace(day=1)
        [found] = rows.query(
            f"SELECT count(*) AS n FROM events_p{month:%Y%m%d} WHERE id = %s", row["id"]
        )
        assert found["n"] == 1
    [far] = rows.query("SELECT message_id FROM events_default")
    assert far["message_id"] == "e-14"
    [new] = rows.query(
        "INSERT INTO events (workspace_id, message_id, type, timestamp, properties) "
        "VALUES (%s, 'after', 'page', now(), '{}') RETURNING id",
        workspace,
    )
    assert new["id"] > max(row["id"] for row in before)
