"""Erasure and suppression: a user erased from every store (the archive included), kept out
when the SDK sends them again, and not brought back by a replay.

On a database of its own: the archive's day is dropped, as the daily job does."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from segment.analytics.client import Client as SegmentClient
from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.app import create_app
from pulsegate.projection.replay import replay_workspace
from pulsegate.sessions import sweep as sessions
from pulsegate.sessions.sessionize import SessionRules
from pulsegate.settings import Settings
from pulsegate.storage.stores import LocalStore
from tests.support.database import Rows
from tests.support.emulator import running_emulator
from tests.support.history import archived_lines, at, morning, prepared, project, store
from tests.support.http import basic, bearer, send
from tests.support.servers import start_server
from tests.support.tenants import ADMIN_TOKEN, SECRET_KEY, Tenant, create_tenant
from tests.support.waiting import eventually, settle

ERASED, KEPT = "erase-me", "keep-me"
ANONYMOUS = {ERASED: "anon-erase", KEPT: "anon-keep"}

# Each store, counted for one user: its rows that hold the user's ids.
STORES = {
    "inbound_messages": "SELECT count(*) AS n FROM inbound_messages WHERE workspace_id = %(w)s "
    "AND (message->>'userId' = ANY(%(ids)s) OR message->>'anonymousId' = ANY(%(ids)s))",
    "events": "SELECT count(*) AS n FROM events WHERE workspace_id = %(w)s "
    "AND (user_id = ANY(%(ids)s) OR anonymous_id = ANY(%(ids)s))",
    "sessions": "SELECT count(*) AS n FROM sessions WHERE workspace_id = %(w)s "
    "AND session_key = ANY(%(ids)s)",
    "users": "SELECT count(*) AS n FROM users WHERE workspace_id = %(w)s "
    "AND user_id = ANY(%(ids)s)",
    "identities": "SELECT count(*) AS n FROM identities WHERE workspace_id = %(w)s "
    "AND (alias = ANY(%(ids)s) OR user_id = ANY(%(ids)s))",
    "deliveries": "SELECT count(*) AS n FROM deliveries WHERE workspace_id = %(w)s "
    "AND ordering_key = ANY(%(ids)s)",
    "rejected_messages": "SELECT count(*) AS n FROM rejected_messages WHERE workspace_id = %(w)s "
    "AND position(convert_to(%(needle)s, 'UTF8') IN raw_body) > 0",
}


def counts(rows: Rows, workspace_id: uuid.UUID, user: str) -> dict[str, int]:
    ids = [user, ANONYMOUS[user]]
    found = {
        store_name: rows.query(sql, {"w": workspace_id, "ids": ids, "needle": f'"{user}"'})[0]["n"]
        for store_name, sql in STORES.items()
    }
    return found


def archived(root: Path, user: str) -> int:
    return sum(
        1
        for lines in archived_lines(root).values()
        for line in lines
        if line.get("userId") == user or line.get("anonymousId") == ANONYMOUS[user]
    )


def visit(user: str, day: str) -> list[dict[str, Any]]:
    anonymous = ANONYMOUS[user]
    return [
        {"type": "page", "anonymousId": anonymous, "name": "Home", "messageId": f"{user}-{day}-p"},
        {
            "type": "identify",
            "userId": user,
            "anonymousId": anonymous,
            "traits": {"email": f"{user}@example.com", "first_name": "Ada"},
            "messageId": f"{user}-{day}-i",
        },
        {
            "type": "track",
            "userId": user,
            "event": "Report Exported",
            "properties": {"module": "Reports"},
            "messageId": f"{user}-{day}-t",
        },
    ]


async def test_erase_a_user_from_every_store_and_keep_them_out(
    scratch_engine: AsyncEngine, scratch_database: str, tmp_path: Path
) -> None:
    rows = Rows(scratch_database)
    settings = Settings(
        database_url=scratch_database,
        data_dir=tmp_path / "data",
        secret_key=SECRET_KEY,
        admin_token=ADMIN_TOKEN,
        scheduler_enabled=False,
        log_retention_days=30,
        archive_url=str(tmp_path / "archive"),
    )
    local = LocalStore(tmp_path / "archive")
    tenant = await create_tenant(scratch_database)
    w = tenant.workspace_id

    # Forty days ago: a visit of each user, archived and dropped from the database since.
    today = datetime.now(UTC).date()
    old = today - timedelta(days=40)
    await morning(scratch_engine, settings, local, old)
    old_messages = [
        prepared(w, tenant.source_id, at(old), {**m, "timestamp": at(old).isoformat()})
        for user in (ERASED, KEPT)
        for m in visit(user, "old")
    ]
    await store(scratch_engine, old_messages)
    await project(scratch_engine)
    await morning(scratch_engine, settings, local, today)
    assert archived(tmp_path / "archive", ERASED) == 3

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            created = await client.post(
                "/api/v1/destinations",
                json={
                    "kind": "freshsales",
                    "name": "crm",
                    "domain": "crm.invalid",
                    "api_key": "k",
                },
                headers=bearer(tenant),
            )
            assert created.status_code == 201, created.text
            await send(client, tenant, visit(ERASED, "now") + visit(KEPT, "now"))
            for user in (ERASED, KEPT):  # a refused message naming each
                refused = await client.post(
                    "/v1/track", json={"userId": user}, headers=basic(tenant.write_key)
                )
                assert refused.status_code == 400
            await settle(client, tenant, rows)
            await sessions.sweep(application.state.engine, rules=SessionRules(tail=timedelta(0)))

            before = {user: counts(rows, w, user) for user in (ERASED, KEPT)}
            for user in (ERASED, KEPT):
                assert all(before[user].values()), (user, before[user])

            response = await client.post(
                "/api/v1/erasures",
                json={"user_id": ERASED, "anonymous_ids": [ANONYMOUS[ERASED]]},
                headers=bearer(tenant),
            )
            assert response.status_code == 202, response.text
            erasure = response.json()
            again = await client.post(
                "/api/v1/erasures", json={"user_id": ERASED}, headers=bearer(tenant)
            )
            assert again.json()["id"] == erasure["id"]  # the same erasure, not a second one
            done = await eventually(
                lambda: client.get(f"/api/v1/erasures/{erasure['id']}", headers=bearer(tenant)),
                lambda r: r.json()["status"] in ("succeeded", "failed"),
                what="the erasure to finish",
            )
            assert done.json()["status"] == "succeeded", done.json()

    after = {user: counts(rows, w, user) for user in (ERASED, KEPT)}
    assert after[ERASED] == dict.fromkeys(STORES, 0)
    assert after[KEPT] == before[KEPT]
    result = done.json()
    assert result["counts"]["inbound_messages"] == before[ERASED]["inbound_messages"]
    assert result["counts"]["archive"] == 3
    assert result["counts"]["rejected_messages"] == before[ERASED]["rejected_messages"]
    assert archived(tmp_path / "archive", ERASED) == 0
    assert archived(tmp_path / "archive", KEPT) == 3
    [manifest] = rows.query(
        "SELECT messages, sha256 FROM archived_objects WHERE workspace_id = %s", w
    )
    assert manifest["messages"] == 3
    # The request is recorded without the person: no id in the erasure or the audit log.
    [kept] = rows.query("SELECT subject_ids FROM erasures WHERE id = %s", uuid.UUID(erasure["id"]))
    assert kept["subject_ids"] is None
    audit = rows.query("SELECT details::text AS d FROM audit_log WHERE workspace_id = %s", w)
    assert audit
    assert all(ERASED not in entry["d"] for entry in audit)

    await later_messages_are_acknowledged_and_dropped(scratch_database, tmp_path, tenant, rows)

    # A replay rebuilds from the archive and the hot log: the user does not come back.
    await replay_workspace(scratch_engine, w, store=local)
    assert counts(rows, w, ERASED)["users"] == 0
    assert counts(rows, w, ERASED)["events"] == 0
    assert counts(rows, w, KEPT)["users"] == 1


async def later_messages_are_acknowledged_and_dropped(
    database_url: str, tmp_path: Path, tenant: Tenant, rows: Rows
) -> None:
    """The official SDK, against a running server: acknowledged (no error, so no retries),
    stored nowhere, counted in /metrics; the kept user's messages are stored as usual."""
    server = start_server(database_url, tmp_path / "live")
    try:
        errors: list[Any] = []
        sdk = SegmentClient(
            tenant.write_key,
            host=server.url,
            sync_mode=True,
            on_error=lambda error, batch: errors.append(error),
        )
        sdk.track(user_id=ERASED, event="Back Again", message_id="late-erased")
        sdk.identify(anonymous_id=ANONYMOUS[ERASED], traits={"x": 1}, message_id="late-anon")
        sdk.track(user_id=KEPT, event="Still Here", message_id="late-kept")
        assert errors == []
        metrics = await asyncio.to_thread(httpx.get, f"{server.url}/metrics")
    finally:
        server.stop()
    stored = {
        r["message_id"]
        for r in rows.query(
            "SELECT message_id FROM inbound_messages WHERE workspace_id = %s", tenant.workspace_id
        )
    }
    assert "late-kept" in stored
    assert not {"late-erased", "late-anon"} & stored
    assert 'pulsegate_messages_suppressed_total{type="track"} 1.0' in metrics.text
    assert 'pulsegate_messages_suppressed_total{type="identify"} 1.0' in metrics.text


async def test_erasure_forgets_the_contact_in_freshsales_when_asked(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """With `delete_in_destinations`, the person's contacts (by external id or email) are
    deleted with Freshsales's "forget"; other contacts stay."""
    with running_emulator() as emulator:
        created = await client.post(
            "/api/v1/destinations",
            json={
                "kind": "freshsales",
                "name": "crm",
                "domain": emulator.url + "/",
                "api_key": "test-key",
            },
            headers=bearer(tenant),
        )
        assert created.status_code == 201, created.text
        contacts = emulator.state.records["contacts"]
        contacts.update(
            {
                1: {"id": 1, "email": "ada@example.com", "external_id": None},
                2: {"id": 2, "email": "other@example.com", "external_id": ANONYMOUS[ERASED]},
                3: {"id": 3, "email": "kept@example.com", "external_id": KEPT},
            }
        )
        await send(
            client,
            tenant,
            [{"type": "identify", "userId": ERASED, "traits": {"email": "ada@example.com"}}],
        )
        await settle(client, tenant, rows)
        response = await client.post(
            "/api/v1/erasures",
            json={
                "user_id": ERASED,
                "anonymous_ids": [ANONYMOUS[ERASED]],
                "delete_in_destinations": True,
            },
            headers=bearer(tenant),
        )
        done = await eventually(
            lambda: client.get(f"/api/v1/erasures/{response.json()['id']}", headers=bearer(tenant)),
            lambda r: r.json()["status"] in ("succeeded", "failed"),
            what="the erasure to finish",
        )
        assert done.json()["status"] == "succeeded", done.json()
        assert done.json()["counts"]["destination_contacts"] == 2
        assert sorted(contacts) == [3]
        forgotten = [r["path"] for r in emulator.state.requests if r["method"] == "DELETE"]
        assert sorted(forgotten) == [
            "/crm/sales/api/contacts/1/forget",
            "/crm/sales/api/contacts/2/forget",
        ]


async def erase(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/erasures", json=body, headers=bearer(tenant))
    assert response.status_code == 202, response.text
    done = await eventually(
        lambda: client.get(f"/api/v1/erasures/{response.json()['id']}", headers=bearer(tenant)),
        lambda r: r.json()["status"] in ("succeeded", "failed"),
        what="the erasure to finish",
    )
    found: dict[str, Any] = done.json()
    assert found["status"] == "succeeded", found
    return found


def group(user: str, account: str, n: int) -> dict[str, Any]:
    return {
        "type": "group",
        "userId": user,
        "groupId": account,
        "traits": {"name": account.title(), "createdAt": "2024-01-01"},
        "messageId": f"g-{account}-{n}",
    }


async def test_erase_an_account(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    """The account, its group calls and the events attributed to it go; its users stay,
    without it; another account is untouched."""
    await send(
        client,
        tenant,
        [
            group("u-1", "acme", 1),
            group("u-2", "globex", 2),
            {"type": "track", "userId": "u-1", "event": "Report Built", "messageId": "t-1"},
            {"type": "track", "userId": "u-2", "event": "Report Built", "messageId": "t-2"},
        ],
    )
    await settle(client, tenant, rows)
    result = await erase(client, tenant, {"account_id": "acme"})
    assert result["counts"]["accounts"] == 1
    assert result["counts"]["inbound_messages"] == 1
    w = tenant.workspace_id
    accounts = rows.query("SELECT account_id FROM accounts WHERE workspace_id = %s", w)
    assert [a["account_id"] for a in accounts] == ["globex"]
    users = rows.query(
        "SELECT user_id, account_id FROM users WHERE workspace_id = %s ORDER BY user_id", w
    )
    assert [(u["user_id"], u["account_id"]) for u in users] == [("u-1", None), ("u-2", "globex")]
    events = rows.query("SELECT message_id FROM events WHERE workspace_id = %s", w)
    assert [e["message_id"] for e in events] == ["t-2"]
    later = await client.post(
        "/v1/group", json=group("u-3", "acme", 3), headers=basic(tenant.write_key)
    )
    assert later.json() == {"success": True}
    assert [m["message_id"] for m in rows.inbound(w)] == ["g-globex-2", "t-1", "t-2"]


async def test_a_lifted_suppression_lets_the_id_in_again(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, rows: Rows
) -> None:
    await erase(client, tenant, {"user_id": "u-gone"})
    suppressed = await client.get("/api/v1/suppressions", headers=bearer(tenant))
    [entry] = suppressed.json()["items"]
    assert "u-gone" not in suppressed.text
    message = {"userId": "u-gone", "event": "Back", "messageId": "back-1"}
    await client.post("/v1/track", json=message, headers=basic(tenant.write_key))
    assert rows.inbound(tenant.workspace_id) == []

    lifted = await client.delete(f"/api/v1/suppressions/{entry['id_hash']}", headers=bearer(tenant))
    assert lifted.status_code == 204
    again = await client.delete(f"/api/v1/suppressions/{entry['id_hash']}", headers=bearer(tenant))
    assert again.status_code == 404

    async def send_and_count() -> int:
        await client.post("/v1/track", json=message, headers=basic(tenant.write_key))
        return len(rows.inbound(tenant.workspace_id))

    # The lift is announced to every process; this one drops its cached list when it hears.
    await eventually(
        send_and_count,
        lambda count: count == 1,
        timeout=2,
        what="the message to be stored once its id is no longer suppressed",
    )
