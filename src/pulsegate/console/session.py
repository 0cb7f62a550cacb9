"""The console's sign-in: a key exchanged for a signed, expiring, `HttpOnly` session cookie.

A workspace API key signs in to its workspace; the admin token signs in as the operator, who
picks a workspace with the switcher. The cookie holds no secret: which key (by id) or that the
operator signed in, the workspace, a CSRF token and the time it was signed, signed with the
server's secret key (itsdangerous). A workspace session ends when its API key is revoked or
expires, as the key itself would be refused.

Every state-changing request must carry the session's CSRF token (a form field or the
`X-CSRF-Token` header htmx sends); the sign-in form, which has no session yet, must come from
the console's own origin. The cookie is `SameSite=Strict` besides.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "pulsegate_console"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class ConsoleSession:
    kind: Literal["workspace", "admin"]
    workspace_id: uuid.UUID | None
    key_id: uuid.UUID | None  # the API key a workspace session signed in with
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def with_workspace(self, workspace_id: uuid.UUID) -> ConsoleSession:
        return ConsoleSession(self.kind, workspace_id, self.key_id, self.csrf)


def new_session(
    kind: Literal["workspace", "admin"],
    *,
    workspace_id: uuid.UUID | None,
    key_id: uuid.UUID | None = None,
) -> ConsoleSession:
    return ConsoleSession(kind, workspace_id, key_id, secrets.token_urlsafe(24))


class SessionSigner:
    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="pulsegate-console-session")

    def dumps(self, session: ConsoleSession) -> str:
        payload: dict[str, Any] = {
            "k": session.kind,
            "w": str(session.workspace_id) if session.workspace_id else None,
            "i": str(session.key_id) if session.key_id else None,
            "c": session.csrf,
        }
        return self._serializer.dumps(payload)

    def loads(self, cookie: str) -> ConsoleSession | None:
        """The session, or None when the cookie is forged, altered or expired."""
        try:
            payload = self._serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
            return ConsoleSession(
                kind="admin" if payload["k"] == "admin" else "workspace",
                workspace_id=uuid.UUID(payload["w"]) if payload["w"] else None,
                key_id=uuid.UUID(payload["i"]) if payload["i"] else None,
                csrf=str(payload["c"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


def csrf_matches(session: ConsoleSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
