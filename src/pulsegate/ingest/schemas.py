"""Inbound Segment messages: one Pydantic model per call type, for the hard rules only.

A message that fails these is refused. The models only check: the stored message is the
normalised dict, kept whole with every unknown field, never a re-serialised model. So the models
ignore extra fields and check objects by type without copying them (this is the hot path).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

MAX_MESSAGE_ID_LENGTH = 100


def _coerce_id(value: Any) -> Any:
    """Ids may arrive as numbers (SDKs stringify them; raw HTTP callers may not)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if value == "":
        return None
    return value


def _require_object(value: Any) -> Any:
    if value is not None and not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return value


Id = Annotated[str, BeforeValidator(_coerce_id)]
OptionalId = Annotated[str | None, BeforeValidator(_coerce_id)]
Object = Annotated[Any, BeforeValidator(_require_object)]  # a JSON object, not copied


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    messageId: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_ID_LENGTH)]
    userId: OptionalId = None
    anonymousId: OptionalId = None
    context: Object | None = None
    integrations: Object | None = None

    @model_validator(mode="after")
    def _needs_an_identity(self) -> Message:
        if self.userId is None and self.anonymousId is None:
            raise PydanticCustomError(
                "missing_user_or_anonymous_id", "userId or anonymousId is required"
            )
        return self


class Track(Message):
    event: Annotated[str, Field(min_length=1)]
    properties: Object | None = None


class Identify(Message):
    traits: Object | None = None


class Group(Message):
    groupId: Id
    traits: Object | None = None


class Page(Message):
    name: str | None = None
    category: str | None = None
    properties: Object | None = None


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
        return model.model_validate(message), []
    except ValidationError as error:
        return None, [
            {
                "field": ".".join(str(part) for part in item["loc"]),
                "code": item["type"],
                "message": item["msg"],
            }
            for item in error.errors(include_url=False, include_input=False)
        ]
