"""Write keys, sources and webhook signatures.

A write key may arrive as the Basic-auth user name (password empty, colon optional), as
`?writeKey=` or `X-Write-Key`, or as `writeKey` at the root of the JSON body: current Segment
SDKs send only the body field, RudderStack only the header.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import json
import math
import time
import uuid
from base64 import b64decode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from pulsegate.db.engine import is_unavailable, unit_of_work
from pulsegate.errors import Forbidden, ServiceUnavailable, Unauthorized
from pulsegate.ingest.paths import Kind
from pulsegate.security import SecretBox, hash_key, hashes_match
from pulsegate.workspaces import repository as workspaces_repository


@dataclass(frozen=True, slots=True)
class SourceInfo:
    id: uuid.UUID
    workspace_id: uuid.UUID
    enabled: bool
    webhook_secret: str | None
    allowed_origins: frozenset[str] | None
    # Messages a second, when the source or its workspace sets a limit (else the gateway's
    # PULSEGATE_SOURCE_RATE_LIMIT; pulsegate.ingest.rate_limit).
    rate_limit: int | None = None


def write_key_from_request(
    authorization: str | None, header_key: str | None, query_key: str | None
) -> str | None:
    """The write key from the Authorization header, `X-Write-Key` or `?writeKey=`, if any.

    A `Bearer` header is an OAuth token (Segment's SDKs send the write key in the body then),
    so it is not a write key.
    """
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise Unauthorized(
                "the Authorization header is not valid Basic credentials",
                code="invalid_authorization",
                scheme="Basic",
            ) from error
        user = decoded.split(":", 1)[0]
        if user:
            return user
    return header_key or query_key or None


def write_key_from_body(payload: Any) -> str | None:
    if isinstance(payload, dict):
        key = payload.get("writeKey")
        return key if isinstance(key, str) and key else None
    if isinstance(payload, list) and payload and isinstance(payload[0], dict):
        return write_key_from_body(payload[0])
    return None


class SourceDirectory:
    """Resolves write keys to sources, with a short in-process cache.

    Every ingest request needs this lookup, so it is cached, in memory and keyed by the write key
    itself (write keys are semi-public, and hashing one per request showed up in profiles): a
    changed or disabled source takes effect within `ttl` seconds. Unknown keys are cached for
    less, so a source created a moment ago starts working quickly while random keys cannot make
    us query the database each time. A key in its grace period after a rotation is cached no
    longer than it is valid, and `clear()` (called on every announced change) makes a revoked
    key or a disabled source take effect at once.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        secret_box: SecretBox,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 2.0,
    ) -> None:
        self._engine = engine
        self._secret_box = secret_box
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._cache: dict[str, tuple[float, SourceInfo | None]] = {}
        self._lock = asyncio.Lock()

    def clear(self) -> None:
        """Forget every key (pulsegate.workspaces.changes: a key or source changed)."""
        self._cache.clear()

    async def find(self, write_key: str) -> SourceInfo | None:
        cached = self._cache.get(write_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self._lock:
            cached = self._cache.get(write_key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
            info, valid_for = await self._load(write_key, hash_key(write_key))
            ttl = min(self._ttl if info is not None else self._negative_ttl, valid_for)
            if len(self._cache) > 100_000:
                self._cache.clear()
            self._cache[write_key] = (time.monotonic() + ttl, info)
            return info

    async def _load(self, write_key: str, key_hash: str) -> tuple[SourceInfo | None, float]:
        """The source of the key, and for how many seconds more the key is valid."""
        try:
            async with unit_of_work(self._engine) as session:
                found = await workspaces_repository.get_source_by_write_key_hash(session, key_hash)
        except Exception as error:
            if is_unavailable(error):
                raise ServiceUnavailable(
                    "the database is unavailable; retry later", code="database_unavailable"
                ) from error
            raise
        if found is None:
            return None, math.inf
        source, workspace_rate_limit = found
        valid_for = math.inf
        if hashes_match(source.write_key_hash, write_key):
            pass
        elif source.previous_write_key_hash is not None and hashes_match(
            source.previous_write_key_hash, write_key
        ):
            # A key replaced by a rotation works until its grace period ends, to the second.
            expires_at = source.previous_write_key_expires_at
            valid_for = (expires_at - datetime.now(UTC)).total_seconds() if expires_at else 0
            if valid_for <= 0:
                return None, math.inf
        else:
            return None, math.inf
        secret = source.webhook_secret_encrypted
        info = SourceInfo(
            id=source.id,
            workspace_id=source.workspace_id,
            enabled=source.enabled,
            webhook_secret=self._secret_box.decrypt(secret) if secret else None,
            allowed_origins=frozenset(source.allowed_origins) if source.allowed_origins else None,
            rate_limit=source.rate_limit_per_second or workspace_rate_limit,
        )
        return info, valid_for


async def authorise(
    directory: SourceDirectory, key: str | None, *, origin: str | None
) -> SourceInfo:
    """The enabled source of a write key, for a request from `origin` (a browser's)."""
    if not key:
        raise Unauthorized(
            "no write key: send it as the Basic-auth user name or as writeKey in the body",
            code="missing_write_key",
            scheme="Basic",
        )
    source = await directory.find(key)
    if source is None:
        raise Unauthorized("the write key is not valid", code="invalid_write_key", scheme="Basic")
    if not source.enabled:
        raise Forbidden("this source is disabled", code="source_disabled")
    if origin and source.allowed_origins is not None and origin not in source.allowed_origins:
        raise Forbidden(
            f"origin {origin!r} is not allowed for this source", code="origin_not_allowed"
        )
    return source


def signs(source: SourceInfo, kind: Kind) -> bool:
    """Whether a request of this kind must carry the source's webhook signature."""
    return kind == "webhook" and source.webhook_secret is not None


def verify_signature(source: SourceInfo, kind: Kind, signature: str | None, raw: bytes) -> None:
    secret = source.webhook_secret
    if kind != "webhook" or secret is None:
        return
    if not signature_is_valid(raw, signature, secret):
        raise Unauthorized(
            "X-Signature must be the hex HMAC-SHA1 of the body with the source's secret",
            code="invalid_signature" if signature else "missing_signature",
            scheme="Signature",
        )


def signature_is_valid(body: bytes, signature: str | None, secret: str) -> bool:
    """Segment's Webhooks destinations sign with lowercase-hex HMAC-SHA1 of the exact body.

    A batched delivery (a JSON array) is signed over its first element only, so we take that
    element's exact bytes rather than re-serialising it (Python and JavaScript format numbers
    differently).
    """
    if not signature:
        return False
    signed = _first_element_bytes(body) if body.lstrip()[:1] == b"[" else body
    if signed is None:
        return False
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha1).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def _first_element_bytes(body: bytes) -> bytes | None:
    try:
        text = body.decode("utf-8")
        start = text.index("[") + 1
        while start < len(text) and text[start].isspace():
            start += 1
        _, end = json.JSONDecoder().raw_decode(text, start)
    except (UnicodeDecodeError, ValueError):
        return None
    return text[start:end].encode("utf-8")
