"""The kinds of connector, and the source each one reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.connectors.csv_feed import CsvFeed, read_path
from pulsegate.connectors.feeds import Feed, FeedUnavailable
from pulsegate.connectors.freshsales import FreshsalesFeed
from pulsegate.connectors.schemas import FiltersIn
from pulsegate.freshsales.budget import RateBudget
from pulsegate.freshsales.client import FreshsalesClient
from pulsegate.security import SecretBox

KINDS = ("freshsales", "csv")


def open_feed(
    connector: Any,
    engine: AsyncEngine,
    secret_box: SecretBox,
    *,
    clock: Callable[[], datetime] | None = None,
    upload: bytes | None = None,
) -> Feed:
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
        return FreshsalesFeed(client, filters)
    if upload is not None:
        data = upload
        return CsvFeed(settings["object"], lambda: data, filters.rows)
    if settings.get("path"):
        return CsvFeed(settings["object"], read_path(settings["path"]), filters.rows)
    stored = connector.upload

    def read() -> bytes:
        if stored is None:
            raise FeedUnavailable("no file yet: give a path or upload one", refused=True)
        return str(stored).encode()

    return CsvFeed(settings["object"], read, filters.rows)
