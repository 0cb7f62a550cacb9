"""What a new emulated Freshsales account holds: field settings and selector entries.

The names and ids follow docs/reference/freshsales.md (§A8's default activity types, a lifecycle
stage "final Customer" as in §B9 case 13), plus the custom fields reverse sync writes to.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ENTITIES = {
    "contacts": "contact",
    "sales_accounts": "sales_account",
    "deals": "deal",
    "leads": "lead",
}

DEFAULT_FIELDS: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        {"name": "first_name", "label": "First name", "type": "text", "default": True},
        {"name": "last_name", "label": "Last name", "type": "text", "default": True},
        {"name": "emails", "label": "Emails", "type": "email", "default": True},
        {"name": "job_title", "label": "Job title", "type": "text", "default": True},
        {"name": "work_number", "label": "Work", "type": "text", "default": True},
        {"name": "mobile_number", "label": "Mobile", "type": "text", "default": True},
        {
            "name": "lifecycle_stage_id",
            "label": "Lifecycle stage",
            "type": "dropdown",
            "default": True,
        },
        {
            "name": "cf_alternate_number",
            "label": "Alternate number",
            "type": "text",
            "default": False,
        },
        {"name": "cf_health_score", "label": "Health score", "type": "number", "default": False},
        {"name": "cf_last_seen", "label": "Last seen", "type": "text", "default": False},
    ],
    "sales_accounts": [
        {"name": "name", "label": "Name", "type": "text", "default": True},
        {"name": "website", "label": "Website", "type": "text", "default": True},
        {"name": "number_of_employees", "label": "Employees", "type": "number", "default": True},
        {"name": "annual_revenue", "label": "Annual revenue", "type": "number", "default": True},
        {"name": "cf_pulsegate_id", "label": "pulsegate id", "type": "text", "default": False},
        {"name": "cf_health_score", "label": "Health score", "type": "number", "default": False},
        {"name": "cf_mrr", "label": "MRR", "type": "number", "default": False},
        {"name": "cf_active_users", "label": "Active users", "type": "number", "default": False},
    ],
    "leads": [
        {"name": "first_name", "label": "First name", "type": "text", "default": True},
        {"name": "last_name", "label": "Last name", "type": "text", "default": True},
        {"name": "emails", "label": "Emails", "type": "email", "default": True},
        {
            "name": "cf_alternate_number",
            "label": "Alternate number",
            "type": "text",
            "default": False,
        },
    ],
    "deals": [
        {"name": "name", "label": "Name", "type": "text", "default": True},
        {"name": "amount", "label": "Deal value", "type": "number", "default": True},
    ],
}

SALES_ACTIVITY_TYPES = [
    {"partial": True, "id": 70000612898 + n, "name": name, "internal_name": name.lower()}
    for n, name in enumerate(
        ["Chat", "Phone", "Meeting", "Task", "Email", "SMS Outgoing", "Reminder", "SMS Incoming"]
    )
]
LIFECYCLE_STAGES = [
    {"partial": True, "id": 71012806400 + n, "name": name, "position": n + 1}
    for n, name in enumerate(["Lead", "Sales Qualified Lead", "Customer", "final Customer"])
]

REQUIRED_ACTIVITY = (
    "title",
    "sales_activity_type_id",
    "owner_id",
    "start_date",
    "end_date",
    "targetable_type",
    "targetable_id",
)


@dataclass
class Faults:
    fail_next: int = 0  # this many requests answer `fail_status`
    fail_after: int = 0  # ... once this many more have been answered normally
    fail_status: int = 503
    retry_after: int = 1  # the `Retry-After` of a 429 fault
    delay_seconds: float = 0.0  # every answer waits this long
    lose: str = ""  # the next request to a path ending so is done, then answered 504


@dataclass
class EmulatorState:
    """Everything the emulator holds; tests read and change it through `/_emulator/`."""

    api_key: str = "test-key"
    per_minute: int = 400
    per_hour: int = 1000
    clock: Callable[[], float] = time.time
    clock_offset: float = 0.0
    faults: Faults = field(default_factory=Faults)
    requests: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, dict[int, dict[str, Any]]] = field(
        default_factory=lambda: {name: {} for name in (*ENTITIES, "sales_activities")}
    )
    fields: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {k: [dict(f) for f in v] for k, v in DEFAULT_FIELDS.items()}
    )
    sales_activity_types: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(t) for t in SALES_ACTIVITY_TYPES]
    )
    lifecycle_stages: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(s) for s in LIFECYCLE_STAGES]
    )
    # Saved views per entity beyond "All …" (id 1): `{id, name, filter_rule}`.
    views: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in ENTITIES}
    )
    answered: list[float] = field(default_factory=list)  # times of counted requests
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(70054866600))

    def now(self) -> float:
        return self.clock() + self.clock_offset

    def stamp(self) -> str:
        """The emulator's time as Freshsales writes `updated_at`: ISO 8601 with an offset."""
        return datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="seconds")
