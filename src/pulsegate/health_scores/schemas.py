"""Health score configuration, runs and history (the `/api/v1/health-scores` routes).

A configuration has weighted sections; a section has measures, each scored 0-100:

- linearly between `min` and `max` (`direction` says whether higher is better), clamped;
- or by `ranges`: the first range that holds the value gives its score. A range is numeric
  (`at_least` inclusive, `below` exclusive, either may be left out) or matches a text or
  boolean dimension exactly (`equals`).

The account's score is sum of section score * weight / sum of weights, a section's score the mean of
its measures. A measure without data (no metric value, dimension unset, no range holding the
value, DAU share of an account without users) is left out, and so is a section without any
measure with data: the remaining weights are renormalised. Bands: green from `green` up,
yellow from `yellow` up, red below.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Key = Annotated[str, Field(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0, le=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LinearScoring(Strict):
    """A score from 0 at `min` to 100 at `max`, clamped (reversed with `lower_is_better`)."""

    method: Literal["linear"]
    min: float
    max: float
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min >= self.max:
            raise ValueError("'min' must be below 'max'")
        return self


class Range(Strict):
    """A score for the values in a range (`at_least` inclusive, `below` exclusive), or equal to a
    value."""

    at_least: float | None = None
    below: float | None = None
    equals: str | bool | None = None
    score: Score

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        numeric = self.at_least is not None or self.below is not None
        if numeric == (self.equals is not None):
            raise ValueError("a range has 'at_least' and/or 'below', or 'equals'")
        return self


class RangeScoring(Strict):
    """A score from the first range that holds the value."""

    method: Literal["ranges"]
    ranges: list[Range] = Field(min_length=1, max_length=50)


Scoring = Annotated[LinearScoring | RangeScoring, Field(discriminator="method")]
UsageName = Literal[
    "days_active", "seconds_per_active_user_day", "dau_share", "mau_share", "sessions"
]


class MetricMeasure(Strict):
    """A measure from an account custom metric: its latest value or its average over `days`."""

    kind: Literal["metric"]
    key: Key = Field(description="An account custom metric")
    aggregate: Literal["latest", "average"] = "latest"
    days: int = Field(default=30, ge=1, le=366, description="`average`: over this many days")
    scoring: Scoring


class DimensionMeasure(Strict):
    """A measure from an account custom dimension's current value."""

    kind: Literal["dimension"]
    key: Key = Field(description="An account custom dimension")
    scoring: Scoring


class UsageMeasure(Strict):
    """A measure from the account's usage: days active, time per active user day, DAU or MAU share,
    sessions."""

    kind: Literal["usage"]
    measure: UsageName = Field(
        description="days_active (of 30), seconds_per_active_user_day (over 30 days), "
        "dau_share and mau_share (of the account's users), sessions (over `days`)"
    )
    days: int = Field(default=30, ge=1, le=366, description="`sessions`: over this many days")
    scoring: Scoring


Measure = Annotated[MetricMeasure | DimensionMeasure | UsageMeasure, Field(discriminator="kind")]


class Section(Strict):
    """A weighted section of the score: the mean of its measures."""

    name: Key
    weight: float = Field(gt=0)
    measures: list[Measure] = Field(min_length=1, max_length=50)


class Bands(Strict):
    """The score at which an account turns yellow, and green (below yellow: red)."""

    yellow: Score = 40
    green: Score = 70

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.yellow > self.green:
            raise ValueError("'yellow' must not be above 'green'")
        return self


class Configuration(Strict):
    """Weighted sections of measures, and the bands."""

    sections: list[Section] = Field(min_length=1, max_length=20)
    bands: Bands = Field(default_factory=Bands)


class AccountFilter(Strict):
    """Every condition given must hold."""

    tier: str | None = None
    lifecycle_stage: str | None = None
    dimension: Key | None = Field(default=None, description="A custom dimension whose value…")
    value: str | float | bool | None = Field(default=None, description="…equals this")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if (self.dimension is None) != (self.value is None):
            raise ValueError("'dimension' and 'value' go together")
        if self.tier is None and self.lifecycle_stage is None and self.dimension is None:
            raise ValueError("a filter needs 'tier', 'lifecycle_stage' or 'dimension'")
        return self


class Segment(Configuration):
    """A configuration for the accounts its filter matches; the first matching segment scores an
    account."""

    name: Key
    filter: AccountFilter


_EXAMPLE: dict[str, Any] = {
    "default": {
        "sections": [
            {
                "name": "Engagement",
                "weight": 7,
                "measures": [
                    {
                        "kind": "usage",
                        "measure": "days_active",
                        "scoring": {"method": "linear", "min": 0, "max": 20},
                    },
                    {
                        "kind": "usage",
                        "measure": "mau_share",
                        "scoring": {"method": "linear", "min": 0, "max": 0.8},
                    },
                ],
            },
            {
                "name": "Value",
                "weight": 3,
                "measures": [
                    {
                        "kind": "metric",
                        "key": "mrr",
                        "aggregate": "average",
                        "days": 30,
                        "scoring": {
                            "method": "ranges",
                            "ranges": [
                                {"below": 100, "score": 20},
                                {"at_least": 100, "below": 1000, "score": 60},
                                {"at_least": 1000, "score": 100},
                            ],
                        },
                    },
                ],
            },
        ],
        "bands": {"yellow": 40, "green": 70},
    },
    "segments": [
        {
            "name": "Enterprise",
            "filter": {"tier": "Gold"},
            "sections": [
                {
                    "name": "Support",
                    "weight": 1,
                    "measures": [
                        {
                            "kind": "metric",
                            "key": "open_tickets",
                            "scoring": {
                                "method": "linear",
                                "min": 0,
                                "max": 10,
                                "direction": "lower_is_better",
                            },
                        },
                    ],
                },
            ],
        },
    ],
}


class HealthScoreConfigIn(Strict):
    """Replaces the workspace's configuration whole. An account is scored by the first
    segment whose filter it matches (their order is their rank), else by the default."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    default: Configuration
    segments: list[Segment] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [segment.name for segment in self.segments]
        if len(names) != len(set(names)):
            raise ValueError("segment names must be unique")
        return self


class HealthScoreConfigOut(BaseModel):
    """The health-score configuration in force and its version (0: the built-in one)."""

    version: int = Field(description="0 is the built-in configuration; each PUT adds one")
    updated_at: datetime | None
    default: Configuration
    segments: list[Segment]


class HealthScoreRunIn(Strict):
    """The day to score (default today, in PULSEGATE_TIMEZONE)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"day": "2026-11-20"}]}
    )

    day: date | None = Field(
        default=None,
        description="Score this day (default: today in PULSEGATE_TIMEZONE). Usage measures "
        "end the day before; metrics are read as of the day; dimensions are current values.",
    )


class HealthScoreRunOut(BaseModel):
    """What a health-score run scored."""

    day: date
    config_version: int
    accounts_scored: int
    accounts_without_data: int


class MeasureScore(BaseModel):
    """One measure's value and score, or why it was left out."""

    kind: str
    name: str = Field(description="The metric or dimension key, or the usage measure")
    value: Any
    score: float | None
    reason: str | None = Field(default=None, description="Why a measure was left out")


class SectionScore(BaseModel):
    """One section's score and its measures'."""

    name: str
    weight: float
    score: float | None
    measures: list[MeasureScore]


class HealthScoreOut(BaseModel):
    """One day's score of an account, with the breakdown by section and measure."""

    day: date
    score: int | None
    band: Literal["red", "yellow", "green"] | None
    segment: str | None = Field(description="The segment whose configuration scored it")
    config_version: int
    config_changed: bool = Field(
        description="The configuration changed since the account's previous score"
    )
    sections: list[SectionScore]
    computed_at: datetime


class HealthHistory(BaseModel):
    """An account's daily health scores."""

    account_id: str
    items: list[HealthScoreOut]
