"""The Freshsales source: sales accounts become accounts, contacts become users.

docs/reference/freshsales.md §A10 and §A11 describe the API it reads.

How an object is pulled:
- a configured view (`filters.<object>.view_id`): the view, every time, in full: a saved view
  takes no extra conditions;
- otherwise filtered search (`POST filtered_search/<entity>`) with the configured rules and,
  once a pull has completed, `updated_at is_after <watermark>`: only what changed since;
- the first pull without rules lists the "All …" view.

Pages are read sorted by `updated_at` ascending until `meta.total_pages`, or an empty page
(a page may hold fewer rows than asked, §A11). Every request goes through the client's
shared rate budget; a 429 or a spent budget waits as long as Freshsales asks (up to `max_wait`
per wait), a 5xx or a timeout is retried with back-off, anything else stops the pull.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pulsegate.connectors.feeds import FeedField, FeedUnavailable, Object, Page, Pull, Record
from pulsegate.connectors.schemas import FiltersIn, ObjectFilter
from pulsegate.freshsales.client import FreshsalesClient, FreshsalesError

ENTITY: dict[Object, tuple[str, str]] = {  # object -> (plural, singular)
    "account": ("sales_accounts", "sales_account"),
    "user": ("contacts", "contact"),
}
PER_PAGE = 100
RETRIES = 4  # a 5xx or timeout is tried this many more times, 1 s, 2 s, 4 s, 8 s apart
MAX_THROTTLED_SECONDS = 3600.0  # a pull throttled longer than this in all gives up


class FreshsalesFeed:
    def __init__(
        self, client: FreshsalesClient, filters: FiltersIn, *, max_wait: float = 900.0
    ) -> None:
        self._client = client
        self._filters = filters
        self._max_wait = max_wait

    async def aclose(self) -> None:
        await self._client.aclose()

    async def catalog(self) -> list[FeedField]:
        found = []
        for object_name, (plural, _) in ENTITY.items():
            fields = (await self._call([], "GET", f"settings/{plural}/fields"))["fields"]
            found += [
                FeedField(
                    object=object_name,
                    name=f["name"],
                    label=f.get("label") or f["name"],
                    type=f.get("type") or "text",
                    standard=bool(f.get("default", not f["name"].startswith("cf_"))),
                )
                for f in fields
            ]
        return found

    def pull(self, object_name: Object, *, since: str | None) -> Pull:
        chosen = getattr(self._filters, object_name) or ObjectFilter()
        incremental = chosen.view_id is None and since is not None
        waits: list[float] = []
        pages = self._pages(object_name, chosen, since if incremental else None, waits)
        return Pull(pages=pages, incremental=incremental)

    async def _pages(
        self, object_name: Object, chosen: ObjectFilter, since: str | None, waits: list[float]
    ) -> AsyncIterator[Page]:
        plural, singular = ENTITY[object_name]
        view_id = chosen.view_id
        rules = [rule.model_dump() for rule in chosen.rules]
        if since is not None:
            rules.append({"attribute": "updated_at", "operator": "is_after", "value": since})
        if view_id is None and not rules:
            view_id = await self._all_view(plural, waits)
        page = 1
        while True:
            params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
            if view_id is not None:
                params |= {"sort": "updated_at", "sort_type": "asc"}
                body = await self._call(waits, "GET", f"{plural}/view/{view_id}", params=params)
            else:
                search = {"filter_rule": rules, "sort": "updated_at", "sort_type": "asc"}
                body = await self._call(
                    waits, "POST", f"filtered_search/{singular}", json=search, params=params
                )
            items = body.get(plural) or []
            meta = body.get("meta") or {}
            if items:
                yield Page(
                    records=[_record(object_name, item) for item in items], total=meta.get("total")
                )
            if not items or page >= int(meta.get("total_pages") or page):
                return
            page += 1

    async def _all_view(self, plural: str, waits: list[float]) -> int:
        views = (await self._call(waits, "GET", f"{plural}/filters"))["filters"]
        for view in views:
            if str(view.get("name", "")).lower().startswith("all "):
                return int(view["id"])
        raise FeedUnavailable(
            f"Freshsales has no 'All …' view of {plural}; configure a view_id or rules",
            refused=True,
        )

    async def _call(
        self, waits: list[float], method: str, path: str, **options: Any
    ) -> dict[str, Any]:
        failures = 0
        while True:
            try:
                return await self._client.request(method, path, **options)
            except FreshsalesError as error:
                if error.kind == "throttled":
                    wait = error.retry_after if error.retry_after is not None else 60.0
                    if wait > self._max_wait or sum(waits) + wait > MAX_THROTTLED_SECONDS:
                        raise FeedUnavailable(
                            f"Freshsales throttled the pull; it asks to wait {wait:.0f} s"
                        ) from error
                    waits.append(wait)
                    await asyncio.sleep(wait)
                elif error.kind == "retryable" and failures < RETRIES:
                    await asyncio.sleep(2.0**failures)
                    failures += 1
                else:
                    raise FeedUnavailable(
                        f"Freshsales: {error.message}", refused=error.kind == "rejected"
                    ) from error


def _record(object_name: Object, item: dict[str, Any]) -> Record:
    """Standard fields at the top level and `cf_*` ones from `custom_field`, side by side;
    `emails` as the primary address."""
    values = {k: v for k, v in item.items() if k != "custom_field"}
    values |= item.get("custom_field") or {}
    emails = values.get("emails")
    if isinstance(emails, list):
        primary = [e.get("value") for e in emails if isinstance(e, dict) and e.get("is_primary")]
        listed = [e.get("value") if isinstance(e, dict) else e for e in emails]
        values["emails"] = values.get("email") or (primary or listed or [None])[0]
    return Record(
        object=object_name,
        values=values,
        id=str(item.get("id")),
        updated_at=item.get("updated_at"),
    )
