"""The Freshsales client against the emulator over real HTTP: requests, errors, the budget."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pulsegate.db.engine import create_engine
from pulsegate.freshsales.budget import RateBudget
from pulsegate.freshsales.client import (
    FreshsalesClient,
    FreshsalesError,
    _retry_after,
    endpoint_for,
)
from pulsegate.settings import Settings
from tests.support.emulator import RunningEmulator, running_emulator
from tests.support.servers import free_port


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with running_emulator() as running:
        yield running


@pytest.mark.parametrize(
    ("domain", "base_url"),
    [
        ("acme.myfreshworks.com", "https://acme.myfreshworks.com/crm/sales/api/"),
        ("https://acme.myfreshworks.com/", "https://acme.myfreshworks.com/crm/sales/api/"),
        (" Acme.MyFreshworks.com/crm/sales ", "https://acme.myfreshworks.com/crm/sales/api/"),
        ("acme.freshsales.io", "https://acme.freshsales.io/api/"),
        ("HTTPS://acme.freshsales.io/api/", "https://acme.freshsales.io/api/"),
        ("http://127.0.0.1:9100", "http://127.0.0.1:9100/crm/sales/api/"),
    ],
)
def test_the_api_prefix_follows_the_host(domain: str, base_url: str) -> None:
    assert endpoint_for(domain).base_url == base_url


async def test_upserts_send_the_token_and_the_wrapped_record(emulator: RunningEmulator) -> None:
    client = FreshsalesClient(domain=emulator.url, api_key="test-key")
    try:
        created = await client.upsert_contact(
            email="ada@acme.com", contact={"emails": "ada@acme.com", "first_name": "Ada"}
        )
        account = await client.upsert_sales_account(
            unique={"name": "Acme"}, account={"name": "Acme", "website": "acme.com"}
        )
        linked = await client.upsert_contact(
            email="ada@acme.com",
            contact={"sales_accounts": [{"id": account["id"], "is_primary": True}]},
            include_sales_accounts=True,
        )
    finally:
        await client.aclose()
    assert linked["id"] == created["id"]
    assert linked["email"] == "ada@acme.com"
    assert [(a["id"], a["name"], a["is_primary"]) for a in linked["sales_accounts"]] == [
        (account["id"], "Acme", True)
    ]
    first = emulator.state.requests[0]
    assert (first["method"], first["path"]) == ("POST", "/crm/sales/api/contacts/upsert")
    assert first["headers"]["authorization"] == "Token token=test-key"
    assert first["headers"]["content-type"] == "application/json"
    assert first["body"] == {
        "unique_identifier": {"emails": "ada@acme.com"},
        "contact": {"emails": "ada@acme.com", "first_name": "Ada"},
    }
    assert emulator.state.requests[2]["query"] == {"include": "sales_accounts"}


async def test_answers_are_classified_with_freshsales_messages(emulator: RunningEmulator) -> None:
    async def error_of(client: FreshsalesClient, **account: str) -> FreshsalesError:
        with pytest.raises(FreshsalesError) as raised:
            await client.upsert_sales_account(unique={"website": "x.com"}, account=account)
        return raised.value

    wrong_key = FreshsalesClient(domain=emulator.url, api_key="nope")
    client = FreshsalesClient(domain=emulator.url, api_key="test-key")
    try:
        denied = await error_of(wrong_key)
        assert (denied.kind, denied.status, denied.message) == (
            "rejected",
            401,
            "Incorrect or expired API key",
        )
        invalid = await error_of(client)  # a new account needs a name
        assert (invalid.kind, invalid.status, invalid.message) == (
            "rejected",
            400,
            "Name can't be blank",
        )
        emulator.state.faults.fail_next = 1
        assert (await error_of(client, name="A")).kind == "retryable"
        assert (await client.upsert_sales_account(unique={"name": "A"}, account={}))["name"] == "A"
        emulator.state.per_minute = 3
        throttled = await error_of(client, name="A")
        assert (throttled.kind, throttled.status) == ("throttled", 429)
        assert throttled.retry_after is not None
        assert 1 <= throttled.retry_after <= 61
    finally:
        await wrong_key.aclose()
        await client.aclose()


async def test_a_slow_or_absent_server_is_retryable(emulator: RunningEmulator) -> None:
    emulator.state.faults.delay_seconds = 1.0
    slow = FreshsalesClient(domain=emulator.url, api_key="test-key", timeout=httpx.Timeout(0.2))
    absent = FreshsalesClient(domain=f"http://127.0.0.1:{free_port()}", api_key="test-key")
    try:
        for client in (slow, absent):
            with pytest.raises(FreshsalesError) as raised:
                await client.selector("lifecycle_stages")
            assert raised.value.kind == "retryable"
    finally:
        await slow.aclose()
        await absent.aclose()


def _throttled(**headers: str) -> httpx.Response:
    return httpx.Response(429, headers=headers, json={"message": "Too many requests"})


def test_the_wait_after_a_429() -> None:
    in_ninety = datetime.now(UTC) + timedelta(seconds=90)
    assert _retry_after(_throttled(**{"Retry-After": "7"})) == 7
    assert 88 <= _retry_after(_throttled(**{"Retry-After": format_datetime(in_ninety)})) <= 90
    epoch = str(int(in_ninety.timestamp()))
    assert 88 <= _retry_after(_throttled(**{"X-RateLimit-Reset": epoch})) <= 90
    dmyhis = in_ninety.strftime("%d%m%Y%H%M%S")
    assert 88 <= _retry_after(_throttled(**{"X-RateLimit-Reset": dmyhis})) <= 90
    assert 0 < _retry_after(_throttled()) <= 60  # to the next minute


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_budget_slides_and_is_shared_by_replicas(settings: Settings) -> None:
    engine = create_engine(settings.async_database_url)
    clock = Clock()
    account = f"acme-{id(clock)}.myfreshworks.com"
    replica_a = RateBudget(engine, per_minute=3, per_hour=5, clock=clock)
    replica_b = RateBudget(engine, per_minute=3, per_hour=5, clock=clock)
    try:
        assert [await replica_a.take(account) for _ in range(2)] == [0.0, 0.0]
        clock.now += timedelta(seconds=40)
        assert await replica_b.take(account) == 0.0  # the third in a minute, from a replica
        assert await replica_a.take(account) == 20.0  # the first use leaves the window at +60 s
        clock.now += timedelta(seconds=20)
        assert await replica_b.take(account) == 0.0
        clock.now += timedelta(seconds=40)
        assert await replica_a.take(account) == 0.0  # five in the hour now
        assert await replica_a.take(account) == 3600 - 100  # the first of them ages out
        assert await replica_b.take("another.myfreshworks.com") == 0.0  # per account
    finally:
        await engine.dispose()


async def test_a_spent_budget_sends_nothing(emulator: RunningEmulator, settings: Settings) -> None:
    engine = create_engine(settings.async_database_url)
    budget = RateBudget(engine, per_minute=1, per_hour=10, clock=Clock())
    client = FreshsalesClient(domain=emulator.url, api_key="test-key", budget=budget)
    try:
        await client.selector("sales_activity_types")
        with pytest.raises(FreshsalesError) as raised:
            await client.selector("sales_activity_types")
    finally:
        await client.aclose()
        await engine.dispose()
    assert (raised.value.kind, raised.value.retry_after) == ("throttled", 60.0)
    assert len(emulator.state.requests) == 1
