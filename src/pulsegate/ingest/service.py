"""Segment-compatible ingestion: authenticate, read, validate, normalise, store.

Every message ends either in `inbound_messages` (once, however often it is retried) or in
`rejected_messages` with its raw bytes and reasons. The only refusals not kept are those we
cannot attribute to a workspace: a missing or unknown write key, a bad webhook signature, a
disabled source, a disallowed browser origin (keeping those would let anyone write to a tenant).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from pulsegate.errors import (
    Forbidden,
    InvalidRequest,
    PayloadTooLarge,
    PulsegateError,
    Unauthorized,
)
from pulsegate.ingest import auth, schemas
from pulsegate.ingest.auth import SourceDirectory, SourceInfo
from pulsegate.ingest.body import MAX_NESTING, BodyTooLarge, InvalidGzip, nesting_fits, read_body
from pulsegate.ingest.normalize import normalize
from pulsegate.ingest.paths import ROUTES, Kind
from pulsegate.ingest.repository import InboundRow, RejectedRow
from pulsegate.ingest.traits import check_traits
from pulsegate.ingest.writer import GroupCommitWriter

# PostgreSQL's jsonb cannot hold U+0000; find the escape but not an escaped backslash before "u".
NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True, slots=True)
class IngestLimits:
    max_message_bytes: int
    max_batch_bytes: int
    max_batch_messages: int


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """What the service needs of an HTTP request, without knowing HTTP."""

    endpoint: str
    kind: Kind
    call_type: str | None  # the type a single-call path implies (it wins over the body's)
    body: AsyncIterator[bytes]
    gzipped: bool
    authorization: str | None = None
    write_key_header: str | None = None
    write_key_query: str | None = None
    signature: str | None = None
    origin: str | None = None
    client_ip: str | None = None
    # A replay of a kept message, authorised by a workspace API key: no signature or origin
    # checks, and a refusal is not kept a second time.
    trusted: bool = False


@dataclass(slots=True)
class IngestOutcome:
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Set when the source restricts origins: the response echoes it with credentials allowed.
    allowed_origin: str | None = None


class InvalidJson(InvalidRequest):
    def __init__(self, message: str, *, partial: bytes, code: str = "invalid_json") -> None:
        super().__init__(message, code=code)
        self.partial = partial


class RefusedRequest(PulsegateError):
    """A whole-request refusal that is kept (it wraps the error the client sees)."""

    def __init__(self, error: PulsegateError, *, raw: bytes, truncated: bool) -> None:
        super().__init__(error.message, code=error.code, details=error.details)
        self.status_code = error.status_code
        self.raw = raw
        self.truncated = truncated


class IngestObserver(Protocol):
    """Told what became of every message received (the Prometheus metrics implement it)."""

    def messages_stored(self, types: Iterable[str]) -> None: ...

    def messages_refused(self, refusals: Iterable[tuple[str, str]]) -> None: ...


class _Unobserved:
    def messages_stored(self, types: Iterable[str]) -> None:
        return None

    def messages_refused(self, refusals: Iterable[tuple[str, str]]) -> None:
        return None


class IngestService:
    def __init__(
        self,
        *,
        directory: SourceDirectory,
        writer: GroupCommitWriter,
        limits: IngestLimits,
        observer: IngestObserver | None = None,
    ) -> None:
        self._directory = directory
        self._writer = writer
        self._limits = limits
        self._observer = observer or _Unobserved()

    async def ingest(self, request: IngestRequest) -> IngestOutcome:
        key = auth.write_key_from_request(
            request.authorization, request.write_key_header, request.write_key_query
        )
        try:
            source = await self._authorise(key, request) if key else None
            return await self._ingest(request, source)
        except (Unauthorized, Forbidden, RefusedRequest) as refusal:  # the whole request
            self._observer.messages_refused([(request.call_type or "unknown", refusal.code)])
            raise

    async def replay(
        self, *, source: SourceInfo, raw: bytes, endpoint: str, batch_item: bool
    ) -> IngestOutcome:
        """Run a kept message (or request) through ingestion again, under today's rules.

        It is stored if it passes now (deduplicated by messageId as always); otherwise the
        refusal is raised with its current reasons, and nothing new is kept.
        """
        kind, call_type = ("single", None) if batch_item else ROUTES[endpoint]
        request = IngestRequest(
            endpoint=endpoint, kind=kind, call_type=call_type, body=_once(raw), gzipped=False,
            trusted=True,
        )  # fmt: skip
        return await self._ingest(request, source)

    async def _ingest(self, request: IngestRequest, source: SourceInfo | None) -> IngestOutcome:
        now = datetime.now(UTC)
        # Milliseconds, as Segment writes timestamps: the columns then equal the JSON exactly.
        received_at = now.replace(microsecond=now.microsecond // 1000 * 1000)
        try:
            payload, raw = await self._read(request, source)
            if source is None:
                source = await self._authorise(auth.write_key_from_body(payload), request)
                self._check_signature(source, request, raw)
            items, root = self._items(request, payload, raw)
        except RefusedRequest as refusal:
            if source is not None and not request.trusted:
                await self._keep_refusal(source, request, received_at, refusal)
            raise
        return await self._store(request, source, items, root, raw, received_at)

    async def _authorise(self, key: str | None, request: IngestRequest) -> SourceInfo:
        if not key:
            raise Unauthorized(
                "no write key: send it as the Basic-auth user name or as writeKey in the body",
                code="missing_write_key",
            )
        source = await self._directory.find(key)
        if source is None:
            raise Unauthorized("the write key is not valid", code="invalid_write_key")
        if not source.enabled:
            raise Forbidden("this source is disabled", code="source_disabled")
        if (
            request.origin
            and source.allowed_origins is not None
            and request.origin not in source.allowed_origins
        ):
            raise Forbidden(
                f"origin {request.origin!r} is not allowed for this source",
                code="origin_not_allowed",
            )
        return source

    async def _read(self, request: IngestRequest, source: SourceInfo | None) -> tuple[Any, bytes]:
        limit = (
            self._limits.max_message_bytes
            if request.kind == "single"
            else self._limits.max_batch_bytes
        )
        what = "the message" if request.kind == "single" else "the request body"
        try:
            raw = await read_body(request.body, limit=limit, gzipped=request.gzipped, what=what)
        except (BodyTooLarge, InvalidGzip) as error:
            if source is not None and request.kind == "webhook" and source.webhook_secret:
                raise  # unsigned bytes are not kept for a source that signs its traffic
            truncated = isinstance(error, BodyTooLarge)
            raise RefusedRequest(error, raw=error.partial, truncated=truncated) from error
        if source is not None:
            self._check_signature(source, request, raw)
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            invalid = InvalidJson(f"the body is not valid JSON: {error}", partial=raw)
            raise RefusedRequest(invalid, raw=raw, truncated=False) from error
        if not nesting_fits(parsed, raw):
            deep = InvalidJson(
                f"the body is nested more than about {MAX_NESTING} levels deep",
                partial=raw, code="nesting_too_deep",
            )  # fmt: skip
            raise RefusedRequest(deep, raw=raw, truncated=False)
        return parsed, raw

    @staticmethod
    def _check_signature(source: SourceInfo, request: IngestRequest, raw: bytes) -> None:
        if request.kind != "webhook" or not source.webhook_secret or request.trusted:
            return
        if not auth.signature_is_valid(raw, request.signature, source.webhook_secret):
            code = "invalid_signature" if request.signature else "missing_signature"
            raise Unauthorized(
                "X-Signature must be the hex HMAC-SHA1 of the body with the source's secret",
                code=code,
            )

    def _items(
        self, request: IngestRequest, payload: Any, raw: bytes
    ) -> tuple[list[Any], dict[str, Any] | None]:
        """The messages of the request, and the batch root whose fields they inherit."""
        if request.kind == "batch":
            batch = payload.get("batch") if isinstance(payload, dict) else None
            if not isinstance(batch, list):
                error = InvalidRequest(
                    'a batch body must be an object with a "batch" array', code="invalid_batch"
                )
                raise RefusedRequest(error, raw=raw, truncated=False)
            if len(batch) > self._limits.max_batch_messages:
                too_many = PayloadTooLarge(
                    f"a batch may hold at most {self._limits.max_batch_messages:,} messages; "
                    f"this one has {len(batch):,}",
                    code="too_many_messages",
                )
                raise RefusedRequest(too_many, raw=raw, truncated=False)
            return batch, payload
        if request.kind == "webhook" and isinstance(payload, list):
            return payload, None
        if not isinstance(payload, dict):
            error = InvalidRequest("the body must be a JSON object", code="invalid_message")
            raise RefusedRequest(error, raw=raw, truncated=False)
        return [payload], None

    async def _store(
        self,
        request: IngestRequest,
        source: SourceInfo,
        items: list[Any],
        root: dict[str, Any] | None,
        raw: bytes,
        received_at: datetime,
    ) -> IngestOutcome:
        accepted: list[InboundRow] = []
        refused: list[RejectedRow] = []
        refused_labels: list[tuple[str, str]] = []  # (type, first reason) for the metrics
        outcome = IngestOutcome(
            allowed_origin=request.origin if source.allowed_origins is not None else None
        )
        # Per-message checks that need a serialisation run only when the body says they might
        # fail: no message of a body under the message limit can be over it, and no message
        # can hold a NUL escape the body does not.
        check_size = len(raw) > self._limits.max_message_bytes
        may_hold_nul = b"\\u0000" in raw and NUL_ESCAPE.search(raw) is not None
        for index, item in enumerate(items):
            row, reasons = self._prepare(
                item, request=request, source=source, root=root, received_at=received_at,
                check_size=check_size, may_hold_nul=may_hold_nul,
            )  # fmt: skip
            if row is not None:
                accepted.append(row)
                continue
            rejected_row, summary = _refusal(
                item, index=index, reasons=reasons, request=request, source=source,
                received_at=received_at, in_batch=root is not None or len(items) > 1,
            )  # fmt: skip
            refused.append(rejected_row)
            refused_labels.append((_type_of(item, request), reasons[0]["code"]))
            outcome.rejected.append(summary)
        await self._writer.write(accepted, [] if request.trusted else refused)
        if not request.trusted:
            self._observer.messages_stored(row.type for row in accepted)
            self._observer.messages_refused(refused_labels)
        if outcome.rejected and len(items) == 1 and root is None:
            raise InvalidRequest(
                outcome.rejected[0]["message"],
                code="invalid_message",
                details=outcome.rejected[0]["details"],
            )
        return outcome

    def _prepare(
        self,
        item: Any,
        *,
        request: IngestRequest,
        source: SourceInfo,
        root: dict[str, Any] | None,
        received_at: datetime,
        check_size: bool,
        may_hold_nul: bool,
    ) -> tuple[InboundRow | None, list[dict[str, str]]]:
        """Normalise and validate one message: a row to store, or the reasons it is refused."""
        if not isinstance(item, dict):
            return None, [_reason("", "invalid_message", "each message must be a JSON object")]
        if check_size and len(orjson.dumps(item)) > self._limits.max_message_bytes:
            limit = self._limits.max_message_bytes
            return None, [
                _reason("", "message_too_large", f"a message may be at most {limit:,} bytes")
            ]
        normalized = normalize(
            item, received_at=received_at, batch_root=root, client_ip=request.client_ip
        )
        message = normalized.message
        if request.call_type is not None:
            message["type"] = request.call_type
        model, errors = schemas.validate_message(message)
        if model is None:
            return None, errors
        schemas.normalize_ids(message)
        warnings = normalized.warnings + check_traits(model.type, message.get("traits"))
        if may_hold_nul and NUL_ESCAPE.search(orjson.dumps(message)) is not None:
            return None, [
                _reason("", "nul_character", "strings may not contain the NUL character (\\u0000)")
            ]
        return InboundRow(
            workspace_id=source.workspace_id,
            source_id=source.id,
            message_id=model.messageId,
            type=model.type,
            received_at=received_at,
            timestamp=normalized.timestamp,
            message=message,
            warnings=warnings or None,
        ), []

    async def _keep_refusal(
        self,
        source: SourceInfo,
        request: IngestRequest,
        received_at: datetime,
        refusal: RefusedRequest,
    ) -> None:
        row = RejectedRow(
            workspace_id=source.workspace_id,
            source_id=source.id,
            received_at=received_at,
            endpoint=request.endpoint,
            message_id=None,
            batch_index=None,
            raw_body=refusal.raw,
            body_truncated=refusal.truncated,
            reasons_json=_reasons_json([_reason("", refusal.code, refusal.message)]),
        )
        await self._writer.write([], [row])


def _type_of(item: Any, request: IngestRequest) -> str:
    """A refused message's type as a metric label: the path's, or a known `type` field."""
    if request.call_type is not None:
        return request.call_type
    declared = item.get("type") if isinstance(item, dict) else None
    return declared if isinstance(declared, str) and declared in schemas.MODELS else "unknown"


def _refusal(
    item: Any,
    *,
    index: int,
    reasons: list[dict[str, str]],
    request: IngestRequest,
    source: SourceInfo,
    received_at: datetime,
    in_batch: bool,
) -> tuple[RejectedRow, dict[str, Any]]:
    """The kept record of a refused message, and its entry in the response's `rejected`."""
    message_id = item.get("messageId") if isinstance(item, dict) else None
    message_id = str(message_id) if message_id is not None else None
    row = RejectedRow(
        workspace_id=source.workspace_id,
        source_id=source.id,
        received_at=received_at,
        endpoint=request.endpoint,
        message_id=message_id,
        batch_index=index if in_batch else None,
        raw_body=orjson.dumps(item),
        body_truncated=False,
        reasons_json=_reasons_json(reasons),
    )
    summary = {
        "index": index,
        "messageId": message_id,
        "code": "invalid_message",
        "message": _summary(reasons),
        "details": reasons,
    }
    return row, summary


def _reason(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _summary(reasons: list[dict[str, str]]) -> str:
    first = reasons[0]
    where = f"{first['field']}: " if first["field"] else ""
    more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"{where}{first['message']}{more}"


def _reasons_json(reasons: list[dict[str, str]]) -> str:
    # Field names come from the client and may hold a NUL, which jsonb refuses.
    return orjson.dumps(reasons).decode().replace("\\u0000", "\\ufffd")


async def _once(raw: bytes) -> AsyncIterator[bytes]:
    yield raw
