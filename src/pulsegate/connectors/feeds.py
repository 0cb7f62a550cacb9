"""What every connector feed offers, whatever the vendor: a field catalog and paged records.

A feed (where a connector's records come from) is built from a connector's row (`open_feed`)
and read by `ConnectorSync`, which knows nothing of Freshsales or CSV: it asks for the
catalog, pulls the records of an object page by page (since a watermark when the feed can
pull incrementally), and matches and writes them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

Object = Literal["account", "user"]


@dataclass(frozen=True, slots=True)
class FeedField:
    object: Object
    name: str
    label: str
    type: str
    standard: bool


@dataclass(frozen=True, slots=True)
class Record:
    """One account or user as the source has it: `values` by field name (custom fields
    included). A `problem` marks a row that cannot be used at all (a CSV row of the wrong
    shape)."""

    object: Object
    values: dict[str, Any]
    id: str | None = None
    line: int | None = None
    updated_at: str | None = None
    problem: str | None = None


@dataclass(slots=True)
class Page:
    records: list[Record]
    total: int | None = None  # records the whole pull gives, when the source says
    filtered: int = 0  # records the source left out by the connector's filters


@dataclass(slots=True)
class Pull:
    """The pages of one object; `incremental` when only records changed since the watermark
    come back, so what did not come back is unchanged."""

    pages: AsyncIterator[Page]
    incremental: bool


class Feed(Protocol):
    async def catalog(self) -> list[FeedField]: ...

    def pull(self, object_name: Object, *, since: str | None) -> Pull: ...

    async def aclose(self) -> None: ...


class FeedUnavailable(Exception):
    """The source could not be read now (unreachable, throttled too long, a missing file);
    `refused` when it answered that it never will as configured (a wrong API key)."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


# --- values ------------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
# A source field type (Freshsales' names, and what the CSV catalog infers) -> pulsegate's.
PULSEGATE_TYPE = {
    "number": "number",
    "decimal": "number",
    "date": "date",
    "datetime": "date",
    "checkbox": "boolean",
    "boolean": "boolean",
}


class Unfit(ValueError):
    """A value that does not fit its field's type; the message says why."""


def coerce(value: Any, value_type: str) -> Any:
    """`value` as `value_type` (string, number, date, boolean); None for no value."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        return None
    if value_type == "number":
        return _number(value)
    if value_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise Unfit(f"{value!r} is not true or false")
    if value_type == "date":
        if isinstance(value, str) and _DATE.match(value):
            return value
        raise Unfit(f"{value!r} is not a date (YYYY-MM-DD…)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        raise Unfit("a nested value is not a string")
    return str(value)


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Unfit(f"{value!r} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise Unfit(f"{value!r} is not a number") from error
    if not number.is_finite():
        raise Unfit(f"{value!r} is not a number")
    return int(number) if number == number.to_integral_value() else float(number)


def as_text(value: Any) -> str | None:
    """A match value as exact text: "12345.0" stays "12345.0", so it never matches "12345"."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text if text.strip() else None
