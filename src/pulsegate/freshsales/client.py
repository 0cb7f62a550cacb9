"""The one client of the Freshsales API (docs/reference/freshsales.md §A).

Every answer is classified, so callers decide with a `kind`, not a status code:
- `throttled` (429): wait `retry_after` seconds, from `Retry-After`, else `X-RateLimit-Reset`,
  else to the next minute;
- `retryable`: a 5xx, a timeout or a transport error;
- `rejected`: any other 4xx, final, with Freshsales' own message (`errors.message`, a list or a
  string, else a top-level `message`).

Before each request the client takes a slot from a `RateBudget` shared through PostgreSQL, so
all replicas together stay under the account's plan limits. When the budget is spent it raises
`throttled` without sending anything.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from pulsegate.freshsales.budget import RateBudget

ErrorKind = Literal["throttled", "retryable", "rejected"]
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class FreshsalesError(Exception):
    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an account's API lives: `base_url` ends with the API prefix and a slash."""

    host: str
    base_url: str

    @property
    def classic(self) -> bool:
        """Freshsales Classic (`*.freshsales.io`), which still has leads."""
        return not self.base_url.endswith("/crm/sales/api/")

    @property
    def domain(self) -> str:
        """The domain to store: the host, with `http://` kept when it was given."""
        return self.host if self.base_url.startswith("https://") else f"http://{self.host}"


def endpoint_for(domain: str) -> Endpoint:
    """The API base for a domain as a user may type it: scheme and trailing slash tolerated.

    `*.freshsales.io` (Classic) answers under `/api/`; everything else, `*.myfreshworks.com`
    included, under `/crm/sales/api/`. An explicit `http://` is kept (a local emulator);
    otherwise it is HTTPS.
    """
    text = domain.strip()
    scheme = "https"
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            scheme, text = prefix[:-3], text[len(prefix) :]
    host = text.split("/", 1)[0].lower()
    if not host:
        raise ValueError("the Freshsales domain is empty")
    prefix = "/api/" if host.split(":")[0].endswith(".freshsales.io") else "/crm/sales/api/"
    return Endpoint(host=host, base_url=f"{scheme}://{host}{prefix}")


class FreshsalesClient:
    def __init__(
        self,
        *,
        domain: str,
        api_key: str,
        budget: RateBudget | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint_for(domain)
        self._budget = budget
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._headers = {
            "Authorization": f"Token token={api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self._budget is not None:
            wait = await self._budget.take(self.endpoint.host)
            if wait > 0:
                raise FreshsalesError(
                    "the client's request budget for this account is spent",
                    kind="throttled",
                    retry_after=wait,
                )
        try:
            response = await self._http.request(
                method,
                self.endpoint.base_url + path,
                json=json,
                params=params,
                headers=self._headers,
            )
        except httpx.TransportError as error:
            raise FreshsalesError(
                f"Freshsales did not answer: {type(error).__name__}", kind="retryable"
            ) from error
        if response.is_success:
            body = response.json() if response.content else {}
            return body if isinstance(body, dict) else {"items": body}
        raise _classify(response)

    async def upsert_contact(
        self, *, email: str, contact: dict[str, Any], include_sales_accounts: bool = False
    ) -> dict[str, Any]:
        params = {"include": "sales_accounts"} if include_sales_accounts else None
        body = {"unique_identifier": {"emails": email}, "contact": contact}
        return _record(
            await self.request("POST", "contacts/upsert", json=body, params=params), "contact"
        )

    async def upsert_lead(self, *, email: str, lead: dict[str, Any]) -> dict[str, Any]:
        """Classic only. The lead upsert mirrors the contact's; docs/reference/freshsales.md §A6
        marks it not verified against a live account."""
        body = {"unique_identifier": {"emails": email}, "lead": lead}
        return _record(await self.request("POST", "leads/upsert", json=body), "lead")

    async def upsert_sales_account(
        self, *, unique: dict[str, Any], account: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"unique_identifier": unique, "sales_account": account}
        return _record(
            await self.request("POST", "sales_accounts/upsert", json=body), "sales_account"
        )

    async def create_deal(self, deal: dict[str, Any]) -> dict[str, Any]:
        return _record(await self.request("POST", "deals", json={"deal": deal}), "deal")

    async def update_deal(self, deal_id: Any, deal: dict[str, Any]) -> dict[str, Any]:
        return _record(await self.request("PUT", f"deals/{deal_id}", json={"deal": deal}), "deal")

    async def search(self, entity: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The first page (100) of `filtered_search/<entity>` (`contact`, `lead`, `deal`, ...)
        for records matching every rule `{attribute, operator, value}`."""
        body = await self.request(
            "POST",
            f"filtered_search/{entity}",
            json={"filter_rule": rules},
            params={"page": 1, "per_page": 100},
        )
        items = body.get(f"{entity}s")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def forget_contact(self, contact_id: Any) -> None:
        """Delete the contact and everything Freshsales holds of it (its GDPR "forget")."""
        await self.request("DELETE", f"contacts/{contact_id}/forget")

    async def create_sales_activity(self, activity: dict[str, Any]) -> dict[str, Any]:
        body = {"sales_activity": activity}
        return _record(await self.request("POST", "sales_activities", json=body), "sales_activity")

    async def selector(self, name: str) -> list[dict[str, Any]]:
        """`sales_activity_types`, `lifecycle_stages`, ...: `[{id, name, ...}]`."""
        items: list[dict[str, Any]] = (await self.request("GET", f"selector/{name}"))[name]
        return items

    async def fields(self, entity: str) -> list[dict[str, Any]]:
        """Field settings of `contacts`, `sales_accounts` or `deals`."""
        items: list[dict[str, Any]] = (await self.request("GET", f"settings/{entity}/fields"))[
            "fields"
        ]
        return items


def _record(body: dict[str, Any], root: str) -> dict[str, Any]:
    """The record under its root key; an answer without one is Freshsales misbehaving."""
    record = body.get(root)
    if not isinstance(record, dict):
        raise FreshsalesError(f"the answer has no {root!r} object", kind="retryable")
    return record


def _classify(response: httpx.Response) -> FreshsalesError:
    message = _message(response)
    status = response.status_code
    if status == 429:
        return FreshsalesError(
            message, kind="throttled", status=status, retry_after=_retry_after(response)
        )
    kind: ErrorKind = "retryable" if status >= 500 else "rejected"
    return FreshsalesError(message, kind=kind, status=status)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict):
        errors = body.get("errors")
        found = errors.get("message") if isinstance(errors, dict) else None
        found = found if found is not None else body.get("message")
        if isinstance(found, list):
            return "; ".join(str(part) for part in found)
        if found is not None:
            return str(found)
    return f"HTTP {response.status_code}"


def _retry_after(response: httpx.Response) -> float:
    """`Retry-After` (seconds or an HTTP date), else `X-RateLimit-Reset`, else the next minute."""
    now = time.time()
    header = response.headers.get("retry-after")
    if header:
        if header.strip().isdigit():
            return float(header)
        parsed = email.utils.parsedate_to_datetime(header)
        if parsed is not None:
            return max(0.0, parsed.timestamp() - now)
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        reset_at = _reset_time(reset.strip())
        if reset_at is not None:
            return max(0.0, reset_at - now)
    return 60.0 - now % 60


def _reset_time(value: str) -> float | None:
    """Epoch seconds, or the `dmyHis` form one PHP client parses (e.g. `22112026153000`)."""
    if value.isdigit() and len(value) == 14:
        parsed = datetime.strptime(value, "%d%m%Y%H%M%S").replace(tzinfo=UTC)
        return parsed.timestamp()
    try:
        return float(value)
    except ValueError:
        return None
