"""What a new emulated Freshsales account holds: field settings and selector entries.

The names and ids follow reference/freshsales.md (§A8's default activity types, a lifecycle
stage "final Customer" as in §B9 case 13), plus the custom fields reverse sync writes to.
"""

from __future__ import annotations

from typing import Any

ENTITIES = {
    "contacts": "contact", "sales_accounts": "sales_account", "deals": "deal", "leads": "lead",
}  # fmt: skip

DEFAULT_FIELDS: dict[str, list[dict[str, Any]]] = {
    "contacts": [
        {"name": "first_name", "label": "First name", "type": "text", "default": True},
        {"name": "last_name", "label": "Last name", "type": "text", "default": True},
        {"name": "emails", "label": "Emails", "type": "email", "default": True},
        {"name": "job_title", "label": "Job title", "type": "text", "default": True},
        {"name": "work_number", "label": "Work", "type": "text", "default": True},
        {"name": "mobile_number", "label": "Mobile", "type": "text", "default": True},
        {"name": "lifecycle_stage_id", "label": "Lifecycle stage", "type": "dropdown",
         "default": True},
        {"name": "cf_alternate_number", "label": "Alternate number", "type": "text",
         "default": False},
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
        {"name": "cf_alternate_number", "label": "Alternate number", "type": "text",
         "default": False},
    ],
    "deals": [
        {"name": "name", "label": "Name", "type": "text", "default": True},
        {"name": "amount", "label": "Deal value", "type": "number", "default": True},
    ],
}  # fmt: skip

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
    "title", "sales_activity_type_id", "owner_id", "start_date", "end_date", "targetable_type",
    "targetable_id",
)  # fmt: skip
