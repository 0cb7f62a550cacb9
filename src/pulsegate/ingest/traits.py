"""The standard fields' traits (`pulsegate.fields.standard`), checked softly.

A wrong value here does not refuse the message: it becomes a warning stored with the message,
and later processing skips that field. Trait names are matched ignoring case and underscores,
so `first_name`, `firstName` and `firstname` are the same trait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pulsegate.fields.standard import FIELDS_OF, Kind, StandardField, canonical, spellings

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


_CHECKS: dict[Kind, Check] = {
    "string": _string,
    "number": _number,
    "boolean": _boolean,
    "datetime": _iso_datetime,
}


def check_for(field: StandardField) -> Check:
    """The check of a standard field's value (the REST schemas refuse what it warns about)."""
    if field.kind == "string" and field.max_length is not None:
        return _string_max(field.max_length)
    return _CHECKS[field.kind]


TABLES = {
    message_type: {
        canonical(spelling): check_for(field) for field in fields for spelling in spellings(field)
    }
    for message_type, fields in FIELDS_OF.items()
}


def check_traits(message_type: str, traits: dict[str, Any] | None) -> list[dict[str, str]]:
    """Warnings for traits of the standard fields whose value has the wrong shape."""
    table = TABLES.get(message_type)
    if table is None or not traits:
        return []
    warnings = []
    for name, value in traits.items():
        check = table.get(canonical(name))
        if check is None or value is None:  # unknown traits are custom; null clears a field
            continue
        problem = check(value)
        if problem is not None:
            warnings.append(
                {"field": f"traits.{name}", "code": "invalid_trait", "message": f"{name} {problem}"}
            )
    return warnings
