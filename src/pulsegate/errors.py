"""Domain errors and the one error envelope.

Every error leaves the service as `{"code", "message", "details"}`; routes never build error JSON.
Segment-compatible routes (`/v1/...`) add `"success": false`, because Segment's SDKs read the
top-level `code` and `message` and *retry* a 4xx whose JSON lacks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class PulsegateError(Exception):
    """An error with a stable snake-case `code` and the HTTP status it maps to."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[Any] = (),
        headers: Mapping[str, str] | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = list(details)
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidRequest(PulsegateError):
    """400: the request cannot be accepted as sent (schema validation included: no 422)."""

    status_code = 400
    code = "invalid_request"


class Unauthorized(PulsegateError):
    """401, with the `WWW-Authenticate` challenge HTTP requires: `Bearer` for the API and
    admin routes, `Basic` (the write key as user name) for the Segment routes."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, code: str | None = None, scheme: str = "Bearer") -> None:
        super().__init__(
            message, code=code, headers={"WWW-Authenticate": f'{scheme} realm="pulsegate"'}
        )


class Forbidden(PulsegateError):
    status_code = 403
    code = "forbidden"


class NotFound(PulsegateError):
    status_code = 404
    code = "not_found"


class AlreadyExists(PulsegateError):
    status_code = 409
    code = "already_exists"


class PayloadTooLarge(PulsegateError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(PulsegateError):
    """429: over a rate limit. Segment's SDKs retry it, after `Retry-After` where they read it
    (`X-RateLimit-Reset` is the Unix time the window ends, which older analytics.js reads)."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, reset_at: int) -> None:
        super().__init__(
            message,
            headers={"Retry-After": str(retry_after), "X-RateLimit-Reset": str(reset_at)},
        )


class StorageFailed(PulsegateError):
    """The storing transaction failed for a reason other than the database being away."""

    status_code = 500
    code = "storage_failed"


class ServiceUnavailable(PulsegateError):
    """Retry later: the database is unreachable or the writer is saturated."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message, code=code, headers={"Retry-After": str(retry_after)})
