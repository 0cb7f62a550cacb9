"""The seed's trait tables (seed 001), checked softly.

A wrong value here does not refuse the message: it becomes a warning stored with the message,
and later processing skips that field. Trait names are matched ignoring case and underscores,
so `first_name`, `firstName` and `firstname` are the same trait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Check = Callable[[Any], str | None]


def _string(value: Any) -> str | None:
    # Phone numbers and postal codes often arrive as numbers; that is not worth a warning.
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return None
    return "must be a string"


def _string_max(length: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return _string(value)
        return f"must be at most {length} characters" if len(value) > length else None

    return check


def _number(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "must be a number"
        return None
    return "must be a number"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _iso_datetime(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return "must be an ISO-8601 date or date-time"
        return None
    return "must be an ISO-8601 date or date-time"


def _canonical(name: str) -> str:
    return name.replace("_", "").lower()


def _table(checks: dict[str, Check]) -> dict[str, Check]:
    return {_canonical(name): check for name, check in checks.items()}


IDENTIFY_TRAITS = _table(
    dict.fromkeys(
        (
            "first_name",
            "last_name",
            "email",
            "phone",
            "mobile_phone",
            "salutation",
            "title",
            "role",
            "department",
            "mailing_street",
            "mailing_city",
            "mailing_state",
            "mailing_postal",
            "mailing_country",
        ),
        _string,
    )
)

GROUP_TRAITS = _table(
    {
        "name": _string,
        "createdAt": _iso_datetime,
        "email": _string,
        "description": _string_max(512),
        "phone": _string,
        "website": _string,
        "industry": _string,
        "employees": _number,
        "tier": _string,
        "lifecycle_stage": _string,
        "billing_street": _string,
        "billing_city": _string,
        "biling_city": _string,  # sic: the seed's spelling, accepted alongside the correct one
        "billing_state": _string,
        "billing_postal": _string,
        "billing_country": _string,
        "is_churned": _boolean,
    }
)

TABLES = {"identify": IDENTIFY_TRAITS, "group": GROUP_TRAITS}


def check_traits(message_type: str, traits: dict[str, Any] | None) -> list[dict[str, str]]:
    """Warnings for traits of the seed's tables whose value has the wrong shape."""
    table = TABLES.get(message_type)
    if table is None or not traits:
        return []
    warnings = []
    for name, value in traits.items():
        check = table.get(_canonical(name))
        if check is None or value is None:  # unknown traits are custom; null clears a field
            continue
        problem = check(value)
        if problem is not None:
            warnings.append(
                {"field": f"traits.{name}", "code": "invalid_trait", "message": f"{name} {problem}"}
            )
    return warnings
