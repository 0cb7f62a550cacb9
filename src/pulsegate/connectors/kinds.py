"""The kinds of connector, and the source each one reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.connectors.csv_source import CsvSource, read_path
from pulsegate.connectors.freshsales import FreshsalesSource
from pulsegate.connectors.schemas import FiltersIn
from pulsegate.connectors.sources import Source, SourceUnavailable
from pulsegate.freshsales.budget import RateBudget
from pulsegate.freshsales.client import FreshsalesClient
from pulsegate.security import SecretBox

KINDS = ("freshsales", "csv")


def open_source(
    connector: Any,
    engine: AsyncEngine,
    secret_box: SecretBox,
    *,
    clock: Callable[[], datetime] | None = None,
    upload: bytes | None = None,
) -> Source:
    """The source of a connector row (or of a connector being created, before it has one).
    A CSV connector reads `upload` when given, else its path, else its last upload."""
    settings, filters = connector.settings, FiltersIn.model_validate(connector.filters)
    if connector.kind == "freshsales":
        budget = RateBudget(
            engine, per_minute=settings["per_minute"], per_hour=settings["per_hour"], clock=clock
        )
        client = FreshsalesClient(
            domain=settings["domain"],
            api_key=secret_box.decrypt(connector.secret_encrypted),
            budget=budget,
        )
        return FreshsalesSource(client, filters)
    if upload is not None:
        data = upload
        return CsvSource(settings["object"], lambda: data, filters.rows)
    if settings.get("path"):
        return CsvSource(settings["object"], read_path(settings["path"]), filters.rows)
    stored = connector.upload

    def read() -> bytes:
        if stored is None:
            raise SourceUnavailable("no file yet: give a path or upload one", refused=True)
        return str(stored).encode()

    return CsvSource(settings["object"], read, filters.rows)
