"""The seed's standard fields of accounts and users (seed 001), by the names the API uses.

Trait names match ignoring case and underscores (`first_name`, `firstName`, `firstname`), and
the seed's `biling_city` spelling fills `billing_city`, as `pulsegate.ingest.traits` checks them.
"""

from __future__ import annotations

ACCOUNT_FIELDS = (
    "name",
    "created_at",
    "email",
    "description",
    "phone",
    "website",
    "industry",
    "employees",
    "tier",
    "lifecycle_stage",
    "billing_street",
    "billing_city",
    "billing_state",
    "billing_postal",
    "billing_country",
    "is_churned",
)

USER_FIELDS = (
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
)

# An account is created (visible) once these have values: the seed's "yes for insert".
REQUIRED_FOR_INSERT = ("name", "created_at")


def canonical(name: str) -> str:
    return name.replace("_", "").lower()


def trait_aliases(fields: tuple[str, ...], extra: dict[str, str] | None = None) -> dict[str, str]:
    """Canonical trait spelling -> field name."""
    aliases = {canonical(field): field for field in fields}
    aliases.update(extra or {})
    return aliases


ACCOUNT_ALIASES = trait_aliases(ACCOUNT_FIELDS, {canonical("biling_city"): "billing_city"})
USER_ALIASES = trait_aliases(USER_FIELDS)
