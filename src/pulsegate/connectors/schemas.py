"""The connectors API: where third-party fields come from, and how each lands in pulsegate."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["freshsales", "csv"]
Object = Literal["account", "user"]
Target = Literal["account_dimension", "account_metric", "user_dimension", "user_metric"]
ValueType = Literal["string", "number", "date", "boolean"]
ConnectorRunStatus = Literal["running", "succeeded", "failed"]


class MappingIn(BaseModel):
    """A source field (by internal name) and the pulsegate field it lands in."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        min_length=1, description="The source field's internal name (`cf_mrr`), never its label"
    )
    target: Target
    key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The pulsegate custom field it fills; by default the field's name "
        "without `cf_`",
    )
    type: ValueType | None = Field(
        None,
        description="What values are coerced to; a metric is a number, a dimension follows "
        "the source field's type unless given",
    )


class MatchIn(BaseModel):
    """How a source record finds its pulsegate account or user."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["id", "name", "email", "external_id"] = Field(
        description="Accounts: `id` (the field holds the pulsegate account id, compared as "
        "exact text) or `name`. Users: `email` or `external_id` (the pulsegate user id)"
    )
    field: str | None = Field(
        None,
        min_length=1,
        description="The source field or CSV column holding it; Freshsales defaults to "
        "`name` and `emails`",
    )


class FilterRule(BaseModel):
    """A Freshsales filtered-search rule (docs/reference/freshsales.md §A11)."""

    model_config = ConfigDict(extra="forbid")

    attribute: str = Field(min_length=1)
    operator: Literal["is_in", "is", "contains", "is_after", "is_before"]
    value: Any


class ObjectFilter(BaseModel):
    """Which Freshsales records of one object to pull: a saved view, or filtered-search rules."""

    model_config = ConfigDict(extra="forbid")

    view_id: int | None = Field(None, description="Pull this saved view (always in full)")
    rules: list[FilterRule] = Field([], description="Pull what these filtered-search rules find")

    @model_validator(mode="after")
    def _one_way(self) -> ObjectFilter:
        if self.view_id is not None and self.rules:
            raise ValueError("give a view_id or rules, not both")
        return self


class RowPredicate(BaseModel):
    """A CSV row is synced only when every predicate holds."""

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    operator: Literal["equals", "not_equals", "in", "not_in", "empty", "not_empty"]
    value: str | list[str] | None = None


class FiltersIn(BaseModel):
    """Which records a connector takes: a Freshsales view or search rules per object, or CSV row
    predicates."""

    model_config = ConfigDict(extra="forbid")

    account: ObjectFilter | None = None
    user: ObjectFilter | None = None
    rows: list[RowPredicate] = Field([], description="CSV only")


class ConnectorIn(BaseModel):
    """A connector: where records come from (Freshsales or a CSV file), which fields land where, how
    records match accounts and users, and which records to take."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "freshsales",
                    "name": "crm",
                    "domain": "acme.myfreshworks.com",
                    "api_key": "your Freshsales API key",
                    "mappings": [
                        {"field": "cf_plan", "target": "account_dimension", "key": "plan"},
                        {"field": "cf_mrr", "target": "account_metric", "key": "mrr"},
                        {"field": "job_title", "target": "user_dimension", "key": "job"},
                    ],
                    "match": {
                        "account": {"by": "id", "field": "cf_pulsegate_id"},
                        "user": {"by": "email"},
                    },
                    "filters": {
                        "account": {
                            "rules": [
                                {"attribute": "cf_plan", "operator": "is_in", "value": ["pro"]}
                            ]
                        }
                    },
                },
                {
                    "kind": "csv",
                    "name": "billing export",
                    "path": "billing/accounts.csv",
                    "object": "account",
                    "mappings": [{"field": "mrr", "target": "account_metric"}],
                    "match": {"account": {"by": "id", "field": "account_id"}},
                    "filters": {
                        "rows": [{"column": "status", "operator": "not_equals", "value": "test"}]
                    },
                },
            ]
        },
    )

    kind: Kind
    name: str = Field(min_length=1, max_length=200)
    mappings: list[MappingIn] = Field(min_length=1)
    match: dict[Object, MatchIn] = Field(
        {}, description="Per object; Freshsales defaults to accounts by name, users by email"
    )
    filters: FiltersIn = FiltersIn()
    # freshsales
    domain: str | None = Field(None, description="Freshsales: the account's host")
    api_key: str | None = Field(None, description="Freshsales: write-only, stored encrypted")
    per_minute: int = Field(400, ge=1, description="Freshsales: the plan's limit per minute")
    per_hour: int = Field(1000, ge=1, description="Freshsales: the plan's limit per hour")
    # csv
    path: str | None = Field(
        None,
        description="CSV: a file the server reads at each run, relative to the workspace's "
        "folder PULSEGATE_IMPORT_DIR/<workspace id>/; or upload one instead",
    )
    object: Object | None = Field(None, description="CSV: what one row is")


class MappingOut(BaseModel):
    """A connector mapping as stored, with the field's resolved key and type."""

    field: str
    target: Target
    key: str
    type: ValueType


class ConnectorOut(BaseModel):
    """A connector with its mappings, matching and filters. Credentials are never shown."""

    id: uuid.UUID
    kind: Kind
    name: str
    settings: dict[str, Any] = Field(description="The kind's options; never the API key")
    mappings: list[MappingOut]
    match: dict[str, MatchIn]
    filters: FiltersIn
    state: dict[str, Any] = Field(description="Watermarks of incremental pulls, last full pull")
    has_upload: bool
    created_at: datetime


class ConnectorList(BaseModel):
    """The workspace's connectors."""

    items: list[ConnectorOut]


class CatalogField(BaseModel):
    """A field of the source, by internal name (what mappings use) and label."""

    object: Object
    name: str = Field(description="The internal name mappings use")
    label: str
    type: str = Field(description="The source's own type (Freshsales' field type)")
    standard: bool = Field(description="A standard field of the source, else a custom one")


class Catalog(BaseModel):
    """Every field a connector's source offers."""

    items: list[CatalogField]


class ConnectorRunIn(BaseModel):
    """Run options: `full` pulls everything instead of what changed since the last complete pull."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"full": True}]})

    full: bool = Field(False, description="Pull everything, not only what changed since")


class ConnectorRunCounts(BaseModel):
    """What a run did with the records it fetched."""

    fetched: int = 0
    filtered: int = Field(0, description="Left out by the CSV row predicates")
    matched: int = 0
    unmatched: int = 0
    updated: int = Field(0, description="Matched records with at least one value changed")
    invalid: int = Field(0, description="Bad rows, and records with a value that did not fit")
    carried_forward: int = Field(
        0, description="Metrics of unchanged records given today's value (incremental runs)"
    )


class ConnectorRunOut(BaseModel):
    """A connector run: its progress while it runs, its counts and error after."""

    id: int
    connector_id: uuid.UUID
    trigger: str
    status: ConnectorRunStatus
    full: bool
    started_at: datetime
    finished_at: datetime | None
    counts: ConnectorRunCounts
    progress: dict[str, Any]
    error: str | None


class ConnectorRunList(BaseModel):
    """A connector's latest runs, newest first."""

    items: list[ConnectorRunOut]


class IssueOut(BaseModel):
    """A record a connector run could not use, and why."""

    id: int
    kind: Literal["unmatched", "invalid"]
    object: Object
    record_id: str | None = Field(description="The Freshsales record id")
    line: int | None = Field(description="The CSV line (the header is line 1)")
    field: str | None
    value: str | None
    reason: str


class IssuePage(BaseModel):
    """A page of a connector run's issues. Pass `next_cursor` as `cursor` to get the next page; it
    is null on the last one."""

    items: list[IssueOut]
    next_cursor: str | None
