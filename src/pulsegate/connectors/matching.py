"""A page of source records matched to accounts or users, with their mapped values read.

No database here: `ConnectorSync` finds the candidates of the keys `match_keys` gives
(`repository.entities_by`) and writes what `read_values` returns (`landing.write_changes`).
Every record is counted once: `invalid` when it cannot be used or one of its values does not
fit its field's type (its other values still land), `unmatched` when no entity or several
have its key, `matched` otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pulsegate.connectors.feeds import Object, Record, Unfit, as_text, coerce
from pulsegate.connectors.schemas import MappingOut, MatchIn

Report = Callable[..., None]
"""`report(kind, record, field=..., value=..., reason=...)` keeps one issue of the run."""


@dataclass(slots=True)
class PageValues:
    current: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> stored fields
    dimensions: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> key -> value
    metrics: dict[tuple[str, str], Any] = field(default_factory=dict)  # (entity, key) -> value


def match_keys(
    records: list[Record], match: MatchIn, counts: Counter[str], report: Report
) -> list[tuple[Record, str]]:
    """Each usable record with the value it is matched by (an email in lower case)."""
    keyed = []
    for record in records:
        if record.problem is not None:
            counts["invalid"] += 1
            report("invalid", record, reason=record.problem)
            continue
        value = as_text(record.values.get(match.field or ""))
        if value is None:
            counts["unmatched"] += 1
            report(
                "unmatched", record, field=match.field, reason=f"no {match.field} value to match by"
            )
            continue
        keyed.append((record, value.lower() if match.by == "email" else value))
    return keyed


def read_values(
    keyed: list[tuple[Record, str]],
    found: dict[str, list[tuple[str, dict[str, Any]]]],
    object_name: Object,
    match: MatchIn,
    mappings: list[MappingOut],
    counts: Counter[str],
    report: Report,
) -> PageValues:
    """The values of the records that match exactly one entity (`found`: key -> candidates,
    each an entity id and its stored fields), coerced to their fields' types."""
    values = PageValues()
    for record, key in keyed:
        candidates = found.get(key, [])
        if len(candidates) != 1:
            counts["unmatched"] += 1
            reason = (
                f"{len(candidates)} {object_name}s have {match.by} {key!r}"
                if candidates
                else f"no {object_name} has {match.by} {key!r}"
            )
            report("unmatched", record, field=match.field, value=key, reason=reason)
            continue
        counts["matched"] += 1
        ((entity, fields),) = candidates
        values.current[entity] = fields
        if not _read_record(record, entity, mappings, values, report):
            counts["invalid"] += 1
    return values


def _read_record(
    record: Record, entity: str, mappings: list[MappingOut], values: PageValues, report: Report
) -> bool:
    """Add one record's mapped values; False when one of them did not fit."""
    fit = True
    for mapping in mappings:
        raw = record.values.get(mapping.field)
        try:
            coerced = coerce(raw, mapping.type)
        except Unfit as problem:
            fit = False
            report("invalid", record, field=mapping.field, value=as_text(raw), reason=str(problem))
            continue
        if mapping.target.endswith("metric"):
            if coerced is not None:
                values.metrics[entity, mapping.key] = coerced
        else:
            values.dimensions.setdefault(entity, {})[mapping.key] = coerced
    return fit
