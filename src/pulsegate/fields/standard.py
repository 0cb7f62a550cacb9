"""The standard fields of accounts and users: the one table the rest derives from.

The standard fields (group traits for accounts, identify traits for users) declared once, by
the names the REST API uses. From this table come:
- the table of docs/rest-api.md, "Standard fields";
- the trait checks of ingest (`pulsegate.ingest.traits`): a value of the wrong kind is a
  warning stored with the message, and the projector leaves that field alone;
- the projector's trait spellings (`aliases`): a trait names a field ignoring case and
  underscores (`first_name`, `firstName`, `firstname`), plus known misspellings;
- the REST schemas (`pulsegate.accounts.schemas`): what `PUT` accepts and `GET` shows.

Every standard field merges the same way: the value of the newest message (by its
timestamp, then messageId) wins, and `null` clears it (see migration 0003's
`pulsegate_merge_fields`). Traits that are not standard fields are custom dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["string", "number", "boolean", "datetime"]


@dataclass(frozen=True, slots=True)
class StandardField:
    name: str  # the REST API's name and the key in `fields`
    kind: Kind  # a "string" also takes a number: phones and postal codes arrive as both
    description: str
    max_length: int | None = None
    trait: str | None = None  # the trait's usual spelling, when it is not `name`
    aliases: tuple[str, ...] = ()  # other spellings that fill the field
    required_for_insert: bool = False  # the account exists once every such field has a value
    choice: bool = False  # must name an entry of the workspace's list (tiers, stages)


ACCOUNT_FIELDS: tuple[StandardField, ...] = (
    StandardField("name", "string", "Name of the company", required_for_insert=True),
    StandardField(
        "created_at",
        "datetime",
        "Join date: when the company signed up, ISO-8601",
        trait="createdAt",
        required_for_insert=True,
    ),
    StandardField("email", "string", "Primary contact email"),
    StandardField("description", "string", "Short company description", max_length=512),
    StandardField("phone", "string", "Primary phone number"),
    StandardField("website", "string", "Website of the company"),
    StandardField("industry", "string", "Type of business"),
    StandardField("employees", "number", "Number of employees"),
    StandardField("tier", "string", "Tier, one of the workspace's tiers", choice=True),
    StandardField(
        "lifecycle_stage", "string", "Lifecycle stage, one of the workspace's", choice=True
    ),
    StandardField("billing_street", "string", "Business street address"),
    # The source field table spells the trait `biling_city`; both spellings fill the field.
    StandardField("billing_city", "string", "Business city", aliases=("biling_city",)),
    StandardField("billing_state", "string", "Business state"),
    StandardField("billing_postal", "string", "Business postal or zip code"),
    StandardField("billing_country", "string", "Business country"),
    StandardField("is_churned", "boolean", "Whether the company has churned"),
)

USER_FIELDS: tuple[StandardField, ...] = (
    StandardField("first_name", "string", "First name"),
    StandardField("last_name", "string", "Last name"),
    StandardField("email", "string", "Email address"),
    StandardField("phone", "string", "Primary phone number"),
    StandardField("mobile_phone", "string", "Mobile phone number"),
    StandardField("salutation", "string", "Mr, Mrs, Miss, …"),
    StandardField("title", "string", "Company title"),
    StandardField("role", "string", "Company role"),
    StandardField("department", "string", "Company department"),
    StandardField("mailing_street", "string", "Business street address"),
    StandardField("mailing_city", "string", "Business city"),
    StandardField("mailing_state", "string", "Business state"),
    StandardField("mailing_postal", "string", "Business postal or zip code"),
    StandardField("mailing_country", "string", "Business country"),
)

FIELDS_OF = {"group": ACCOUNT_FIELDS, "identify": USER_FIELDS}


def canonical(name: str) -> str:
    """A trait name as matched: without underscores, lower case."""
    return name.replace("_", "").lower()


def spellings(field: StandardField) -> tuple[str, ...]:
    return (field.name, *((field.trait,) if field.trait else ()), *field.aliases)


def aliases(fields: tuple[StandardField, ...]) -> dict[str, str]:
    """Canonical trait spelling -> field name."""
    return {canonical(spelling): field.name for field in fields for spelling in spellings(field)}


ACCOUNT_ALIASES = aliases(ACCOUNT_FIELDS)
USER_ALIASES = aliases(USER_FIELDS)
REQUIRED_FOR_INSERT = tuple(field.name for field in ACCOUNT_FIELDS if field.required_for_insert)
CHOICE_FIELDS = tuple(field.name for field in ACCOUNT_FIELDS if field.choice)
