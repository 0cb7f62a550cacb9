"""The Segment-compatible paths and what each one receives."""

from __future__ import annotations

from typing import Literal

from pulsegate.ingest.schemas import MODELS, SHORT_PATHS

Kind = Literal["single", "batch", "webhook"]

ROUTES: dict[str, tuple[Kind, str | None]] = {
    **{f"/v1/{call}": ("single", call) for call in MODELS},
    **{f"/v1/{letter}": ("single", call) for letter, call in SHORT_PATHS.items()},
    **dict.fromkeys(("/v1/batch", "/v1/import", "/v1/b"), ("batch", None)),
    "/v1/webhook": ("webhook", None),
}
