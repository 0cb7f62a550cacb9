"""The emulator's records: finding, merging and listing them the way Freshsales does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from freshsales_emulator.data import ENTITIES, EmulatorState


class ApiError(Exception):
    def __init__(self, status: int, messages: list[str]) -> None:
        super().__init__(messages)
        self.status = status
        self.messages = messages


def find(records: dict[int, dict[str, Any]], key: str, value: Any) -> dict[str, Any] | None:
    """The record whose `key` (an email among `emails`; a `cf_*` under `custom_field`) is
    `value`."""
    for record in records.values():
        stored = (
            record.get("custom_field", {}).get(key) if key.startswith("cf_") else record.get(key)
        )
        values = [e["value"] for e in stored] if key == "emails" and stored else [stored]
        if value in values:
            return record
    return None


def check_custom_fields(state: EmulatorState, entity: str, payload: dict[str, Any]) -> None:
    known = {f["name"] for f in state.fields.get(entity, [])}
    unknown = sorted(set(payload.get("custom_field") or {}) - known)
    if unknown:
        raise ApiError(400, [f"Invalid custom field {name}" for name in unknown])


def merge_contact(state: EmulatorState, record: dict[str, Any], payload: dict[str, Any]) -> None:
    for key, value in payload.items():
        if key == "emails":
            emails = value if isinstance(value, list) else [value]
            record["emails"] = [
                {"id": next(state.ids), "value": email, "is_primary": n == 0, "label": None}
                for n, email in enumerate(emails)
            ]
            record["email"] = emails[0] if emails else None
        elif key == "custom_field":
            record.setdefault("custom_field", {}).update(value or {})
        elif key == "sales_accounts":
            if sum(1 for link in value if link.get("is_primary")) > 1:
                raise ApiError(400, ["Only one primary sales account is allowed"])
            record["sales_accounts"] = [dict(link) for link in value]
        else:
            record[key] = value


def contact_out(state: EmulatorState, record: dict[str, Any], include: str) -> dict[str, Any]:
    out = {k: v for k, v in record.items() if k != "sales_accounts"}
    out.setdefault("custom_field", {})
    if "sales_accounts" in include.split(","):
        accounts = state.records["sales_accounts"]
        out["sales_accounts"] = [
            {
                "partial": True,
                "id": link["id"],
                "name": accounts.get(link["id"], {}).get("name"),
                "avatar": None,
                "website": None,
                "last_contacted": None,
                "record_type_id": "1",
                "is_primary": bool(link.get("is_primary")),
            }
            for link in record.get("sales_accounts", [])
        ]
    return out


def known(entity: str) -> None:
    if entity not in ENTITIES:
        raise ApiError(404, [f"no such resource {entity}"])


def page_of(entity: str, records: list[dict[str, Any]], page: int, per_page: int) -> dict[str, Any]:
    per_page = max(1, min(per_page, 100))
    total_pages = max(1, -(-len(records) // per_page))
    chunk = records[(page - 1) * per_page : page * per_page]
    return {entity: chunk, "meta": {"total_pages": total_pages, "total": len(records)}}


def matches(record: dict[str, Any], rule: dict[str, Any]) -> bool:
    attribute, operator, wanted = rule["attribute"], rule["operator"], rule["value"]
    if attribute == "contact_email.email":
        value: Any = record.get("email")
    elif attribute.startswith("cf_"):
        value = record.get("custom_field", {}).get(attribute)
    else:
        value = record.get(attribute)
    if operator == "is_in":
        return value in (wanted if isinstance(wanted, list) else [wanted])
    if operator == "is":
        return bool(value == wanted)
    if operator == "contains":
        return str(wanted).lower() in str(value or "").lower()
    if operator in ("is_after", "is_before"):
        if value is None:
            return False
        value, wanted = _instant(value), _instant(wanted)
        return bool(value > wanted) if operator == "is_after" else bool(value < wanted)
    raise ApiError(400, [f"Invalid operator {operator}"])


def _instant(value: Any) -> Any:
    """A timestamp compared as a moment, whatever its offset; anything else as text."""
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)


def sort_records(records: list[dict[str, Any]], sort: str, sort_type: str) -> list[dict[str, Any]]:
    def key(record: dict[str, Any]) -> tuple[bool, Any, int]:
        value = record.get(sort)
        if value is None:
            return (True, "", record["id"])
        return (False, _instant(value) if sort.endswith("_at") else str(value), record["id"])

    return sorted(records, key=key, reverse=sort_type == "desc")
