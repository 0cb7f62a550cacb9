"""The arithmetic of a health score, apart from where the values come from (pure functions).

Published worked example: sections scoring 83, 71, 78 and 54 with weights 7, 5, 8 and 3 give
(83*7 + 71*5 + 78*8 + 54*3) / 23 = 1722 / 23 = 74.87, shown as 75.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pulsegate.health_scores.schemas import (
    Bands,
    Configuration,
    LinearScoring,
    Measure,
    MeasureScore,
    RangeScoring,
    SectionScore,
)

NO_DATA = "no data"
NO_RANGE = "no range holds the value"
NOT_A_NUMBER = "the value is not a number"


@dataclass(frozen=True, slots=True)
class Result:
    score: int | None
    band: str | None
    sections: list[SectionScore]


def weighted_score(sections: list[tuple[float | None, float]]) -> float | None:
    """sum of score * weight / sum of weight over the sections that have a score."""
    scored = [(score, weight) for score, weight in sections if score is not None]
    total_weight = sum(weight for _, weight in scored)
    if not total_weight:
        return None
    return sum(score * weight for score, weight in scored) / total_weight


def rounded(score: float) -> int:
    """Half up, as people round: 74.5 shows as 75."""
    return int(Decimal(repr(score)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def band(score: int, bands: Bands) -> str:
    if score >= bands.green:
        return "green"
    return "yellow" if score >= bands.yellow else "red"


def score_value(
    scoring: LinearScoring | RangeScoring, value: Any
) -> tuple[float | None, str | None]:
    """The value's score 0-100, or None with the reason it has none."""
    if value is None:
        return None, NO_DATA
    if isinstance(scoring, RangeScoring):
        return _score_by_ranges(scoring, value)
    number = _number(value)
    if number is None:
        return None, NOT_A_NUMBER
    share = min(max((number - scoring.min) / (scoring.max - scoring.min), 0.0), 1.0)
    if scoring.direction == "lower_is_better":
        share = 1 - share
    return share * 100, None


def _score_by_ranges(scoring: RangeScoring, value: Any) -> tuple[float | None, str | None]:
    number = _number(value)
    for candidate in scoring.ranges:
        if candidate.equals is not None:
            if _equal(candidate.equals, value):
                return candidate.score, None
            continue
        if number is None:
            continue
        if (candidate.at_least is None or number >= candidate.at_least) and (
            candidate.below is None or number < candidate.below
        ):
            return candidate.score, None
    return None, NO_RANGE


def _equal(expected: str | bool, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    return str(value) == expected


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def measure_name(measure: Measure) -> str:
    return measure.measure if measure.kind == "usage" else measure.key


def score_account(config: Configuration, value_of: Callable[[Measure], Any]) -> Result:
    """Score one account by `config`; `value_of` gives a measure's value (None: no data)."""
    sections: list[SectionScore] = []
    for section in config.sections:
        measures = []
        for measure in section.measures:
            value = value_of(measure)
            score, reason = score_value(measure.scoring, value)
            measures.append(
                MeasureScore(
                    kind=measure.kind,
                    name=measure_name(measure),
                    value=value,
                    score=score,
                    reason=reason,
                )
            )
        scores = [m.score for m in measures if m.score is not None]
        section_score = sum(scores) / len(scores) if scores else None
        sections.append(
            SectionScore(
                name=section.name, weight=section.weight, score=section_score, measures=measures
            )
        )
    total = weighted_score([(section.score, section.weight) for section in sections])
    if total is None:
        return Result(None, None, sections)
    score = rounded(total)
    return Result(score, band(score, config.bands), sections)
