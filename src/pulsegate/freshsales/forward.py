"""Forwarding one message to Freshsales: the lookups and writes around `mapping`.

RudderStack resolves ids during its transform with extra calls (docs/reference/freshsales.md §B4,
§B6, §B7); so does this, through the same client and so within the same rate budget. Selectors and
field settings change rarely and are cached per destination for `LOOKUP_TTL` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pulsegate.freshsales import mapping
from pulsegate.freshsales.client import FreshsalesClient
from pulsegate.freshsales.mapping import MISSING, MappingError

LOOKUP_TTL = 600.0


NOTES_LIMIT = 2000


class Skipped(Exception):
    """The destination's settings leave this message out; `message` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ForwardingRules:
    """What a destination forwards: call types, track events mapped `from` → `to`, and what
    becomes of other track events (`reject`, `skip`, `sales_activity`) and of page calls
    (recorded as sales activities of `activity_type` when `page` is among the types)."""

    types: frozenset[str] = frozenset({"identify", "group", "track"})
    event_mappings: list[dict[str, Any]] = field(default_factory=list)
    other_events: str = "reject"
    activity_type: str | None = None
    activity_owner_id: int | None = None


class Lookups:
    """Selectors and field settings of one Freshsales account, cached."""

    def __init__(self, client: FreshsalesClient) -> None:
        self._client = client
        self._cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def use(self, client: FreshsalesClient) -> None:
        """Fetch through `client` from now on (the cache outlives one run's client)."""
        self._client = client

    async def _cached(self, key: str, fetch: Any) -> list[dict[str, Any]]:
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < LOOKUP_TTL:
            return hit[1]
        items: list[dict[str, Any]] = await fetch()
        self._cache[key] = (time.monotonic(), items)
        return items

    async def selector(self, name: str) -> list[dict[str, Any]]:
        return await self._cached(f"selector:{name}", lambda: self._client.selector(name))

    async def custom_fields(self, entity: str) -> set[str]:
        fields = await self._cached(f"fields:{entity}", lambda: self._client.fields(entity))
        return {f["name"] for f in fields if str(f.get("name", "")).startswith("cf_")}


class Forwarder:
    def __init__(
        self, client: FreshsalesClient, rules: ForwardingRules, lookups: Lookups | None = None
    ) -> None:
        self._client = client
        self._rules = rules
        self._lookups = lookups or Lookups(client)

    async def forward(self, message: dict[str, Any]) -> None:
        """Send what `message` means to Freshsales. Raises `MappingError` for a message that
        cannot be forwarded, and `FreshsalesError` when Freshsales refuses or is away."""
        kind = mapping.check_type(message, set(self._rules.types))
        if kind == "identify":
            await self._identify(message)
        elif kind == "group":
            await self._group(message)
        elif kind == "track":
            await self._track(message)
        elif kind == "page":
            await self._recorded_activity(message, mapping.page_title(message))
        else:
            raise MappingError(f"message type {kind} not supported")

    async def _track(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        try:
            targets = mapping.track_targets(event, self._rules.event_mappings)
        except MappingError:
            if not isinstance(event, str) or self._rules.other_events == "reject":
                raise
            if self._rules.other_events == "skip":
                raise Skipped(
                    f"event {event} has no mapping; this destination skips those"
                ) from None
            await self._recorded_activity(message, event)
            return
        for target in targets:
            if target == "sales_activity":
                await self._sales_activity(message)
            else:
                await self._lifecycle_stage(message)

    async def _identify(self, message: dict[str, Any]) -> None:
        if self._client.endpoint.classic and not mapping.wants_contact(message):
            await self._lead(message)
            return
        contact = mapping.contact_payload(message, await self._lookups.custom_fields("contacts"))
        email = contact["emails"]
        company = mapping.first(message, "traits.company", "context.traits.company")
        deal = mapping.first(message, "traits.deal", "context.traits.deal")
        stored = await self._client.upsert_contact(
            email=email, contact=contact, include_sales_accounts=isinstance(company, dict)
        )
        account_id = None
        if isinstance(company, dict) and company.get("name"):
            account = await self._client.upsert_sales_account(
                unique={"name": company["name"]}, account=dict(company)
            )
            account_id = account["id"]
            await self._link(email, stored.get("sales_accounts") or [], account_id)
        if isinstance(deal, dict):
            record = {**deal, "contacts_added_list": [stored["id"]]}
            if account_id is not None:
                record.setdefault("sales_account_id", account_id)
            await self._deal(record)

    async def _deal(self, record: dict[str, Any]) -> None:
        """Create the deal unless it exists: same name, same sales account (Freshsales has
        no unique deal field by default, so no upsert). Identifies repeat their traits, and a
        retry after a lost answer must not create the deal a second time."""
        same_name = await self._client.search(
            "deal", [{"attribute": "name", "operator": "is_in", "value": record.get("name")}]
        )
        account = record.get("sales_account_id")
        existing = next((d for d in same_name if d.get("sales_account_id") == account), None)
        if existing is None:
            await self._client.create_deal(record)
        else:
            await self._client.update_deal(existing["id"], record)

    async def _lead(self, message: dict[str, Any]) -> None:
        """Freshsales Classic makes a lead of an identify unless the traits ask for a contact
        (Segment's destination, docs/reference/freshsales.md §C); the company and deal ride
        inside the lead."""
        lead = mapping.contact_payload(message, await self._lookups.custom_fields("leads"))
        for name in ("company", "deal"):
            value = mapping.first(message, f"traits.{name}", f"context.traits.{name}")
            if isinstance(value, dict):
                lead[name] = value
        await self._client.upsert_lead(email=lead["emails"], lead=lead)

    async def _group(self, message: dict[str, Any]) -> None:
        account = mapping.account_payload(message)
        email = mapping.user_email(message)
        if email is MISSING:
            await self._client.upsert_sales_account(
                unique={"name": account["name"]}, account=account
            )
            return
        contact = await self._client.upsert_contact(
            email=email, contact={"emails": email}, include_sales_accounts=True
        )
        if "sales_accounts" not in contact:
            raise MappingError("Fails in fetching user accountDetails")
        stored = await self._client.upsert_sales_account(
            unique={"name": account["name"]}, account=account
        )
        await self._link(email, contact["sales_accounts"], stored["id"])

    async def _link(self, email: Any, existing: list[dict[str, Any]], account_id: Any) -> None:
        links = mapping.merged_account_links(existing, account_id)
        if links != existing:
            await self._client.upsert_contact(email=email, contact={"sales_accounts": links})

    async def _sales_activity(self, message: dict[str, Any]) -> None:
        activity = mapping.sales_activity_payload(message)
        if "sales_activity_type_id" not in activity:
            activity["sales_activity_type_id"] = await self._activity_type_id(
                activity["sales_activity_name"]
            )
        if "targetable_id" not in activity:
            kind, person = await self._person(mapping.user_email(message))
            if person.get("id") is None:
                raise MappingError("Failed in fetching userId. Aborting!")
            activity["targetable_type"], activity["targetable_id"] = kind, person["id"]
        await self._client.create_sales_activity(activity)

    async def _person(self, email: Any) -> tuple[str, dict[str, Any]]:
        """The record an activity of `email` hangs on, and its `targetable_type`.

        On Suite a person is a contact. On Classic a person is a lead until converted (an
        identify makes a lead unless its traits ask for a contact): the contact with that
        email if there is one, else the lead, made if need be. Upserting a contact there
        would duplicate a lead as a contact.
        """
        if self._client.endpoint.classic:
            rule = {"attribute": "contact_email.email", "operator": "is_in", "value": email}
            contacts = await self._client.search("contact", [rule])
            if contacts:
                return "Contact", contacts[0]
            return "Lead", await self._client.upsert_lead(email=email, lead={"emails": email})
        return "Contact", await self._client.upsert_contact(email=email, contact={"emails": email})

    async def _activity_type_id(self, name: Any) -> Any:
        """A sales activity type's id from its name, through the cached selector."""
        types = await self._lookups.selector("sales_activity_types")
        found = next((t for t in types if t.get("name") == name), None)
        if found is None:
            raise MappingError(f"sales Activity {name} doesn't exists. Aborting!")
        return found["id"]

    async def _lifecycle_stage(self, message: dict[str, Any]) -> None:
        email, stage_id, stage_name = mapping.lifecycle_stage_request(message)
        if stage_id is MISSING:
            stages = await self._lookups.selector("lifecycle_stages")
            found = next((s for s in stages if s.get("name") == stage_name), None)
            if found is None:
                raise MappingError(f"failed to fetch lifeCycleStages with {stage_name}")
            stage_id = found["id"]
        await self._client.upsert_contact(email=email, contact={"lifecycle_stage_id": stage_id})

    async def _recorded_activity(self, message: dict[str, Any], title: str) -> None:
        """A page view or an unmapped event, recorded on the user's contact (or Classic lead)
        as a sales activity of the destination's `activity_type`, at the message's time."""
        email = mapping.user_email(message)
        if email is MISSING:
            raise MappingError(
                "Either of email or targetable_id is required for creating sales activity. "
                "Aborting!"
            )
        type_id = await self._activity_type_id(self._rules.activity_type)
        kind, person = await self._person(email)
        owner = person.get("owner_id") or self._rules.activity_owner_id
        if owner is None:
            raise MappingError(
                f"a sales activity needs an owner: the {kind.lower()} has none and the "
                "destination sets no activity_owner_id"
            )
        at = mapping.first(message, *mapping.TIMESTAMP)
        activity = {
            "title": title,
            "sales_activity_type_id": type_id,
            "owner_id": owner,
            "start_date": at,
            "end_date": at,
            "targetable_type": kind,
            "targetable_id": person["id"],
        }
        notes = mapping.notes(message)
        if notes:
            activity["notes"] = notes[:NOTES_LIMIT]
        await self._client.create_sales_activity(activity)
