"""Segment messages to Freshsales payloads, as RudderStack's destination maps them.

docs/reference/freshsales.md §B3-§B8 is the specification; the error strings are RudderStack's
exact ones. These are pure functions: looking things up (activity types, stages, a contact's
id) and sending belong to `pulsegate.freshsales.forward`.

Where RudderStack is defective we differ, on purpose:
- an address given as a string is kept, not blanked (§B8);
- a trait `title` fills `job_title` and `phone` fills `work_number`, as Segment's destination
  does (§C); custom traits (`cfAlternateNumber` or `cf_alternate_number`) go to
  `custom_field.cf_alternate_number` (RudderStack reverted its custom fields);
- `context.externalId` may be Segment's array form `[{"id", "type"}]` as well as an object.
"""

from __future__ import annotations

import math
import re
from typing import Any

MISSING = object()


class MappingError(Exception):
    """The message cannot be forwarded; `message` is the reason recorded on the delivery."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def lookup(message: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`context.traits.email`, `context.externalId.0.id`)."""
    value: Any = message
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def first(message: dict[str, Any], *paths: str) -> Any:
    """The first value that is present and not null or "" (0 and false count, §B8)."""
    for path in paths:
        value = lookup(message, path)
        if value is not MISSING and value is not None and value != "":
            return value
    return MISSING


def _traits(*keys: str, context: bool = True) -> tuple[str, ...]:
    bases = ("traits", "context.traits") if context else ("traits",)
    return tuple(f"{base}.{key}" for base in bases for key in keys)


def _to_number(value: Any) -> Any:
    """JavaScript's Number(): NaN is dropped (MISSING)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip() or "nan")
        except ValueError:
            return MISSING
        if math.isnan(number) or math.isinf(number):
            return MISSING
        return int(number) if number.is_integer() else number
    return MISSING


def _parse_float(value: Any) -> Any:
    """JavaScript's parseFloat(): the leading number of a string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", str(value))
    if not match:
        return MISSING
    number = float(match.group(0))
    return int(number) if number.is_integer() else number


def _flatten_address(address: Any) -> Any:
    if isinstance(address, dict):
        parts = ("street", "city", "state", "country", "postalCode")
        return " ".join(str(address.get(part) or "") for part in parts)
    return address  # a string is kept (RudderStack blanks it)


ADDRESS_BASES = ("traits", "traits.address", "context.traits", "context.traits.address")
ZIP_KEYS = ("zip", "zipcode", "zip_code", "zipCode", "postalcode", "postal_code", "postalCode")
TIMESTAMP = ("timestamp", "originalTimestamp")

# dest key -> (source paths in priority order, conversion)
_CONTACT: dict[str, tuple[tuple[str, ...], str | None]] = {
    "first_name": (_traits("firstName", "firstname", "first_name"), None),
    "last_name": (_traits("lastName", "lastname", "last_name"), None),
    "subscription_status": (_traits("subscriptionStatus"), None),
    "job_title": (_traits("job_title", "jobTitle") + _traits("title"), None),
    "work_number": (("traits.phone", "context.traits.phone", "properties.phone"), None),
    "external_id": (
        (
            "userId",
            "traits.userId",
            "traits.id",
            "context.traits.userId",
            "context.traits.id",
            "anonymousId",
        ),
        None,
    ),
    "mobile_number": (_traits("mobileNumber"), None),
    "address": (_traits("address"), "address"),
    "city": (
        (
            "traits.city",
            "traits.address.city",
            "context.traits.city",
            "context.traits.address.city",
        ),
        None,
    ),
    "state": (
        (
            "traits.state",
            "traits.address.state",
            "context.traits.state",
            "context.traits.address.state",
        ),
        None,
    ),
    "country": (
        (
            "traits.address.country",
            "traits.country",
            "context.traits.address.country",
            "context.traits.country",
        ),
        None,
    ),
    "zipcode": (tuple(f"{base}.{key}" for base in ADDRESS_BASES for key in ZIP_KEYS), None),
    "sales_accounts": (_traits("salesAccounts", "sales_accounts"), None),
    "territory_id": (_traits("territoryId"), "number"),
    "lead_source_id": (_traits("leadSourceId"), "number"),
    "owner_id": (_traits("ownerId"), "number"),
    "contact_status_id": (_traits("contactStatusId"), "number"),
    "lifecycle_stage_id": (_traits("lifecycleStageId"), "number"),
    "subscription_types": (_traits("subscriptionTypes"), None),
    "medium": (_traits("medium"), None),
    "campaign_id": ((*_traits("campaignId", "campaign_id"), "context.campaign.name"), "number"),
    "keyword": (("traits.keyword", "context.traits.keyword", "context.campaign.term"), None),
    "time_zone": (("traits.timeZone", "context.traits.timeZone", "context.timeZone"), None),
    "facebook": (_traits("facebookUserName"), None),
    "twitter": (_traits("twitterUserName"), None),
    "linkedin": (_traits("linkedinUserName"), None),
    "created_at": (_traits("createdAt") + TIMESTAMP, None),
    "updated_at": (TIMESTAMP, None),
}

_ACCOUNT: dict[str, tuple[tuple[str, ...], str | None]] = {
    "name": (_traits("name"), None),
    "industry_type_id": (_traits("industryTypeId"), "number"),
    "business_type_id": (_traits("business_type_id", "businessTypeId"), "number"),
    "number_of_employees": (_traits("numberOfEmployees"), "number"),
    "annual_revenue": (_traits("annualRevenue"), "float"),
    "territory_id": (_traits("territoryId"), "number"),
    "parent_sales_account_id": (_traits("parentSalesAccountId"), "number"),
    "owner_id": (_traits("ownerId"), "number"),
    "phone": (("traits.phone", "context.traits.phone", "properties.phone"), None),
    "address": (_traits("address"), "address"),
    "city": _CONTACT["city"],
    "state": _CONTACT["state"],
    "country": _CONTACT["country"],
    "zipcode": _CONTACT["zipcode"],
    "website": (_traits("website"), None),
    "facebook": _CONTACT["facebook"],
    "twitter": _CONTACT["twitter"],
    "linkedin": _CONTACT["linkedin"],
    "created_at": _CONTACT["created_at"],
    "updated_at": _CONTACT["updated_at"],
}

_CONVERT = {"number": _to_number, "float": _parse_float, "address": _flatten_address}


def _map(
    message: dict[str, Any], table: dict[str, tuple[tuple[str, ...], str | None]]
) -> dict[str, Any]:
    mapped = {}
    for key, (paths, conversion) in table.items():
        value = first(message, *paths)
        if value is not MISSING and conversion is not None:
            value = _CONVERT[conversion](value)
        if value is not MISSING:
            mapped[key] = value
    return mapped


def _required(message: dict[str, Any], name: str, *paths: str) -> Any:
    value = first(message, *paths)
    if value is MISSING:
        raise MappingError(f'Missing required value from "{name}"')
    return value


def contact_email(message: dict[str, Any]) -> Any:
    """generic:emailOnly; a contact is upserted by it."""
    return first(message, "traits.email", "context.traits.email", "properties.email")


def user_email(message: dict[str, Any]) -> Any:
    """generic:email: also the first id of Segment's array form of `context.externalId`."""
    return first(
        message,
        "traits.email",
        "context.traits.email",
        "properties.email",
        "context.externalId.0.id",
    )


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def custom_traits(message: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Traits naming a custom field in camelCase (`cfAlternateNumber`) or as it is
    (`cf_alternate_number`), kept only when the account has that field (`known`)."""
    found = {}
    for base in ("context.traits", "traits"):  # traits win
        traits = lookup(message, base)
        if not isinstance(traits, dict):
            continue
        for name, value in traits.items():
            field = snake_case(name)
            if field.startswith("cf_") and field in known and value not in (None, ""):
                found[field] = value
    return found


def contact_payload(message: dict[str, Any], custom_fields: set[str]) -> dict[str, Any]:
    """identify → the `contact` of `contacts/upsert` (§B3, with the fixes above)."""
    emails = _required(
        message, "emailOnly", "traits.email", "context.traits.email", "properties.email"
    )
    contact = {"emails": emails, **_map(message, _CONTACT)}
    custom = custom_traits(message, custom_fields)
    if custom:
        contact["custom_field"] = custom
    return contact


def account_payload(message: dict[str, Any]) -> dict[str, Any]:
    """group → the `sales_account` of `sales_accounts/upsert` (§B4)."""
    _required(message, "name", "traits.name", "context.traits.name")
    return _map(message, _ACCOUNT)


def merged_account_links(existing: list[dict[str, Any]], account_id: Any) -> list[dict[str, Any]]:
    """The contact's accounts with `account_id` added once; exactly one stays primary.

    RudderStack appends the account even when it is already linked (§B4.4c); here an account
    already linked is left as it is, and the first account becomes primary when none is.
    """
    links = [dict(link) for link in existing]
    if not any(link.get("id") == account_id for link in links):
        links.append({"id": account_id, "is_primary": False})
    primary = next((n for n, link in enumerate(links) if link.get("is_primary")), 0)
    for n, link in enumerate(links):
        link["is_primary"] = n == primary
    return links


def track_targets(event: Any, mappings: list[dict[str, Any]]) -> list[str]:
    """§B5: the mapped names (case-insensitive `from`), else the event itself, normalised."""
    if not isinstance(event, str):
        raise MappingError("Event is a required field and should be a string")
    targets = [
        entry["to"]
        for entry in mappings
        if entry.get("from") and entry.get("to") and entry["from"].lower() == event.lower()
    ] or [event]
    normalised = [re.sub(r"\s+", "_", target.strip().lower()) for target in targets]
    for name in normalised:
        if name not in ("sales_activity", "lifecycle_stage"):
            raise MappingError(f"event name {event} is not supported. Aborting!")
    return normalised


def external_id(message: dict[str, Any]) -> dict[str, Any]:
    """`context.externalId` as RudderStack reads it, from an object or Segment's array."""
    value = lookup(message, "context.externalId")
    if isinstance(value, list):
        value = value[0] if value and isinstance(value[0], dict) else {}
    return value if isinstance(value, dict) else {}


_ACTIVITY: dict[str, tuple[tuple[str, ...], str | None]] = {
    "sales_activity_name": (("properties.salesActivityName",), None),
    "sales_activity_type_id": (("properties.salesActivityTypeId",), None),
    "sales_activity_outcome_id": (("properties.salesActivityOutcomeId",), None),
    "notes": (("properties.notes",), None),
    "creater_id": (("properties.createrId",), None),
    "created_at": (TIMESTAMP, None),
    "updated_at": (TIMESTAMP, None),
    "location": (("properties.location",), None),
    "checkedin_at": (("properties.checkedinAt",), None),
    "latitude": (("latitude", "context.address.latitude", "context.location.latitude"), None),
    "longitude": (("longitude", "context.address.longitude", "context.location.longitude"), None),
}


def sales_activity_payload(message: dict[str, Any]) -> dict[str, Any]:
    """track `sales_activity` → the `sales_activity` to create, before lookups (§B6)."""
    activity = {
        "title": _required(message, "properties.title", "properties.title"),
        "start_date": _required(message, "properties.startDate", "properties.startDate"),
        "end_date": _required(message, "properties.endDate", "properties.endDate"),
        "owner_id": _required(message, "properties.ownerId", "properties.ownerId"),
    }
    target = external_id(message)
    if target.get("type") in (None, ""):
        raise MappingError('Missing required value from "context.externalId.type"')
    activity["targetable_type"] = target["type"]
    if target.get("id") not in (None, ""):
        activity["targetable_id"] = target["id"]
    activity.update(_map(message, _ACTIVITY))
    if "sales_activity_name" not in activity and "sales_activity_type_id" not in activity:
        raise MappingError(
            "Either of sales activity name or sales activity type id is required. Aborting!"
        )
    if "targetable_id" not in activity:
        if str(activity["targetable_type"]).lower() != "contact":
            raise MappingError("targetable_id is required. Aborting!")
        if user_email(message) is MISSING:
            raise MappingError(
                "Either of email or targetable_id is required for creating sales activity. "
                "Aborting!"
            )
    return activity


def lifecycle_stage_request(message: dict[str, Any]) -> tuple[Any, Any, Any]:
    """track `lifecycle_stage` → (email, stage id or MISSING, stage name or MISSING) (§B7)."""
    email = user_email(message)
    if email is MISSING:
        raise MappingError("email is required for updating life Cycle Stages. Aborting!")
    stage_id = first(message, "properties.lifecycleStageId")
    stage_name = first(message, "properties.lifecycleStageName")
    if stage_id is MISSING and stage_name is MISSING:
        raise MappingError(
            "Either of lifecycleStageName or lifecycleStageId is required. Aborting!"
        )
    return email, stage_id, stage_name


def check_type(message: dict[str, Any], forwarded: set[str]) -> str:
    """§B2: the message type, lower-cased, when this destination forwards it."""
    kind = message.get("type")
    if not kind:
        raise MappingError("Message Type is not present. Aborting message.")
    kind = str(kind).lower()
    if kind not in forwarded:
        raise MappingError(f"message type {kind} not supported")
    return kind


def wants_contact(message: dict[str, Any]) -> bool:
    """Segment's Classic destination: `fsContact` or `fs_contact` truthy (true, "true", 1,
    "yes") makes a contact of an identify; otherwise it makes a lead (§C)."""
    value = first(message, *_traits("fsContact", "fs_contact"))
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is not MISSING and bool(value)


def page_title(message: dict[str, Any]) -> str:
    """The title of the sales activity a page call records."""
    page = first(
        message, "name", "properties.name", "properties.title", "properties.url", "context.page.url"
    )
    return f"Viewed {page}" if page is not MISSING else "Viewed a page"


def notes(message: dict[str, Any]) -> str:
    """A recorded event's properties as `key: value` lines."""
    properties = message.get("properties")
    if not isinstance(properties, dict):
        return ""
    return "\n".join(f"{key}: {value}" for key, value in properties.items() if value is not None)
