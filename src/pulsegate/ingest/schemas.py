"""Inbound Segment messages: one Pydantic model per call type, for the hard rules only.

A message that fails these is refused. The models only check: the stored message is the
normalised dict, kept whole with every unknown field, never a re-serialised model. So the models
ignore extra fields and check objects by type without copying them (this is the hot path).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

MAX_MESSAGE_ID_LENGTH = 100

# Ids may arrive as numbers (SDKs stringify them; raw HTTP callers may not): `normalize_ids`
# stores them as strings. Everything here is checked inside pydantic-core, with no Python
# callback per field: this runs for every message.
Id = Annotated[StrictStr, Field(min_length=1)] | StrictInt | StrictFloat
OptionalId = StrictStr | StrictInt | StrictFloat | None
Object = InstanceOf[dict] | None  # type: ignore[type-arg]  # a JSON object, checked, not copied


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    messageId: Annotated[StrictStr, Field(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH)]
    userId: OptionalId = None
    anonymousId: OptionalId = None
    context: Object = None
    integrations: Object = None


class Track(Message):
    event: Annotated[str, Field(min_length=1)]
    properties: Object = None


class Identify(Message):
    traits: Object = None


class Group(Message):
    groupId: Id
    traits: Object = None


class Page(Message):
    name: str | None = None
    category: str | None = None
    properties: Object = None


class Screen(Page):
    pass


class Alias(Message):
    userId: Id
    previousId: Id


MODELS: dict[str, type[Message]] = {
    "track": Track,
    "identify": Identify,
    "group": Group,
    "page": Page,
    "screen": Screen,
    "alias": Alias,
}

# analytics.js posts single calls to one-letter paths.
SHORT_PATHS = {
    "t": "track",
    "i": "identify",
    "g": "group",
    "p": "page",
    "s": "screen",
    "a": "alias",
}

ID_FIELDS = ("messageId", "userId", "anonymousId", "groupId", "previousId")


_OBJECT_ERROR = "Input should be a JSON object"


def validate_message(message: dict[str, Any]) -> tuple[Message | None, list[dict[str, str]]]:
    """Validate against the model for the message's type; return it or the field errors."""
    message_type = message.get("type")
    model = MODELS.get(message_type) if isinstance(message_type, str) else None
    if model is None:
        known = ", ".join(MODELS)
        return None, [
            {"field": "type", "code": "unknown_type", "message": f"type must be one of: {known}"}
        ]
    try:
        validated = model.model_validate(message)
    except ValidationError as error:
        return None, [_field_error(item) for item in _first_per_field(error)]
    if _absent(validated.userId) and _absent(validated.anonymousId):
        return None, [
            {
                "field": "",
                "code": "missing_user_or_anonymous_id",
                "message": "userId or anonymousId is required",
            }
        ]
    return validated, []


def normalize_ids(message: dict[str, Any]) -> None:
    """Ids as strings; an empty id is an absent one (call after `validate_message`)."""
    for name in ID_FIELDS:
        value = message.get(name)
        if value is None:
            continue
        if value == "":
            del message[name]
        elif not isinstance(value, str):
            message[name] = str(value)


def _absent(value: object) -> bool:
    return value is None or value == ""


def _first_per_field(error: ValidationError) -> list[Any]:
    """A union reports one error per member; one per field is what a client can act on."""
    seen: dict[tuple[Any, ...], Any] = {}
    for item in error.errors(include_url=False, include_input=False):
        location = tuple(part for part in item["loc"] if not _is_union_member(part))
        seen.setdefault(location, {**item, "loc": location})
    return list(seen.values())


def _is_union_member(part: object) -> bool:
    return isinstance(part, str) and (
        part.startswith(("constrained-str", "str", "int", "float", "is-instance", "none"))
        or part.startswith("function-")
    )


def _field_error(item: Any) -> dict[str, str]:
    code, message = item["type"], item["msg"]
    if code == "is_instance_of":
        code, message = "dict_type", _OBJECT_ERROR
    return {"field": ".".join(str(part) for part in item["loc"]), "code": code, "message": message}
