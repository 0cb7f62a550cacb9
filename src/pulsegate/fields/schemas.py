"""Custom field definitions and the workspace's trait rule, as the REST API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FieldObject = Literal["account", "user"]
FieldKind = Literal["dimension", "metric"]
FieldType = Literal["string", "number", "date", "boolean"]
FieldKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")]


class FieldIn(BaseModel):
    """A custom dimension (latest value) or metric (one value a day) of accounts or users."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "object": "account",
                    "kind": "dimension",
                    "key": "plan",
                    "type": "string",
                    "label": "Plan",
                }
            ]
        },
    )

    object: FieldObject
    kind: FieldKind
    key: FieldKey
    type: FieldType
    label: str | None = Field(None, max_length=200)


class FieldOut(BaseModel):
    """A custom field definition, and whether a trait, a connector or the API defined it."""

    model_config = ConfigDict(from_attributes=True)

    object: FieldObject
    kind: FieldKind
    key: str
    type: FieldType
    label: str
    source: str


class FieldList(BaseModel):
    """A page of custom field definitions. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[FieldOut]
    next_cursor: str | None = None


class TraitMappingIO(BaseModel):
    """A trait and the custom field it fills."""

    model_config = ConfigDict(extra="forbid")

    object: FieldObject
    trait: str = Field(min_length=1, max_length=200)
    field: FieldKey


class CustomFieldSettingsIO(BaseModel):
    """`auto`: unknown traits define dimensions; `mapped`: only `mappings`; `off`: none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"mode": "auto", "mappings": []},
                {
                    "mode": "mapped",
                    "mappings": [
                        {"object": "account", "trait": "plan", "field": "plan"},
                        {"object": "account", "trait": "seats_used", "field": "seats"},
                    ],
                },
            ]
        },
    )

    mode: Literal["auto", "mapped", "off"]
    mappings: list[TraitMappingIO] = []


class MetricValueIn(BaseModel):
    """One day's value of a custom metric for an account or a user."""

    model_config = ConfigDict(extra="forbid")

    object: FieldObject
    id: str = Field(min_length=1, description="The account's groupId or the user's userId")
    key: FieldKey
    value: float
    date: dt.date | None = Field(None, description="Default: today, in the server's time zone")


class MetricValuesIn(BaseModel):
    """Custom metric values to record, all or none."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "object": "account",
                            "id": "acme",
                            "key": "mrr",
                            "value": 1200,
                            "date": "2026-11-01",
                        }
                    ]
                }
            ]
        },
    )

    items: Annotated[list[MetricValueIn], Field(min_length=1, max_length=1000)]


class MetricValuesStored(BaseModel):
    """How many values were stored."""

    stored: int


class MetricPoint(BaseModel):
    """A metric's value on one day."""

    date: dt.date
    value: float


class MetricHistory(BaseModel):
    """A custom metric's daily values, oldest first."""

    key: str
    items: list[MetricPoint]
