"""Segment-compatible ingestion: authenticate, read, validate, normalise, store.

Every message ends either in `inbound_messages` (once, however often it is retried) or in
`rejected_messages` with its raw bytes and reasons. The only refusals not kept are those we
cannot attribute to a workspace: a missing or unknown write key, a bad webhook signature, a
disabled source, a disallowed browser origin (keeping those would let anyone write to a tenant).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from pulsegate.errors import (
    Forbidden,
    InvalidRequest,
    PulsegateError,
    RateLimited,
    Unauthorized,
)
from pulsegate.ingest import auth
from pulsegate.ingest.auth import SourceDirectory, SourceInfo
from pulsegate.ingest.body import BodyTooLarge, InvalidGzip, read_body
from pulsegate.ingest.paths import ROUTES
from pulsegate.ingest.prepare import (
    Arrival,
    UnparsableBody,
    may_hold_nul,
    parse_body,
    prepare_message,
)
from pulsegate.ingest.rate_limit import RateLimiter
from pulsegate.ingest.refusals import (
    RefusedRequest,
    refused_message,
    refused_request,
    type_label,
)
from pulsegate.ingest.repository import InboundRow, RejectedRow
from pulsegate.ingest.requests import IngestLimits, IngestOutcome, IngestRequest, messages_of
from pulsegate.ingest.writer import GroupCommitWriter
from pulsegate.privacy.suppression import SuppressionList

# A REST write's body, parsed, to the Segment call it stands for (InvalidRequest if it is not
# a valid body for its route).
CallBuilder = Callable[[Any], dict[str, Any]]


class IngestObserver(Protocol):
    """Told what became of every message received (the Prometheus metrics implement it)."""

    def messages_stored(self, types: Iterable[str]) -> None: ...

    def messages_refused(self, refusals: Iterable[tuple[str, str]]) -> None: ...

    def messages_suppressed(self, types: Iterable[str]) -> None: ...


class _Unobserved:
    def messages_stored(self, types: Iterable[str]) -> None:
        return None

    def messages_refused(self, refusals: Iterable[tuple[str, str]]) -> None:
        return None

    def messages_suppressed(self, types: Iterable[str]) -> None:
        return None


class IngestService:
    """One way into the log: authorise, read, verify the signature, parse, prepare, store.

    Three doors use it: the Segment routes (`ingest`), the REST writes (`write_for_api`) and
    the replay of a kept refusal (`replay`). They differ only in how the source is known and
    whether a refusal is kept; every message passes the same `prepare_message`.
    """

    def __init__(
        self,
        *,
        directory: SourceDirectory,
        writer: GroupCommitWriter,
        limits: IngestLimits,
        rate_limiter: RateLimiter | None = None,
        suppressions: SuppressionList | None = None,
        observer: IngestObserver | None = None,
    ) -> None:
        self._directory = directory
        self._writer = writer
        self._rate_limiter = rate_limiter
        self._suppressions = suppressions
        self._limits = limits
        self._observer = observer or _Unobserved()

    async def ingest(self, request: IngestRequest) -> IngestOutcome:
        """A Segment call. The write key is in a header, or else in the body: then the body is
        read and parsed before the source is known, and a refusal found on the way is not kept
        (without a source, keeping it would let anyone write to a tenant)."""
        received_at = _received_now()
        try:
            header_key = auth.write_key_from_request(
                request.authorization, request.write_key_header, request.write_key_query
            )
            source = None
            if header_key:
                source = await auth.authorise(self._directory, header_key, origin=request.origin)
            refusal: RefusedRequest | None = None
            try:
                raw = await self._read(request)
                payload = parse_body(raw)
            except UnparsableBody as error:
                refusal = RefusedRequest(error, raw=raw, truncated=False)
            except (BodyTooLarge, InvalidGzip) as error:
                # Bytes that cannot be checked against a signature are never kept.
                if source is not None and auth.signs(source, request.kind):
                    raise
                refusal = RefusedRequest(
                    error, raw=error.partial, truncated=isinstance(error, BodyTooLarge)
                )
            if source is None:
                if refusal is not None:
                    raise refusal
                source = await auth.authorise(
                    self._directory, auth.write_key_from_body(payload), origin=request.origin
                )
            auth.verify_signature(
                source,
                request.kind,
                request.signature,
                raw if refusal is None else refusal.raw,
            )
            if refusal is not None:
                await self._keep_refusal(source, request, received_at, refusal)
                raise refusal
            return await self._accept(request, source, payload, raw, received_at, keep=True)
        except (Unauthorized, Forbidden, RefusedRequest, RateLimited) as whole:  # the request
            self._observer.messages_refused([(request.call_type or "unknown", whole.code)])
            raise

    async def write_for_api(
        self,
        workspace_id: uuid.UUID,
        *,
        endpoint: str,
        body: AsyncIterator[bytes],
        call: CallBuilder,
    ) -> str:
        """A write of the REST API (`PUT /api/v1/accounts/{id}`, …); return the messageId it
        was stored as. Its body is read and parsed as a Segment call's, `call` turns it into
        the group or identify call it stands for, and that call is prepared and stored as any
        other, under the same limits; a refusal is kept, with the codes a Segment call gets."""
        received_at = _received_now()
        source = api_source(workspace_id)
        request = IngestRequest(
            endpoint=endpoint, kind="single", call_type=None, body=body, gzipped=False
        )
        try:
            raw = await self._read(request)
            message = call(parse_body(raw))
        except (UnparsableBody, InvalidRequest) as error:
            refusal = RefusedRequest(error, raw=raw, truncated=False)
        except BodyTooLarge as error:
            refusal = RefusedRequest(error, raw=error.partial, truncated=True)
        else:
            await self._accept(request, source, message, raw, received_at, keep=True)
            return str(message["messageId"])
        self._observer.messages_refused([("api", refusal.code)])
        await self._keep_refusal(source, request, received_at, refusal)
        raise refusal

    async def replay(
        self, *, source: SourceInfo, raw: bytes, endpoint: str, batch_item: bool
    ) -> IngestOutcome:
        """Run a kept message (or request) through ingestion again, under today's rules.

        It is stored if it passes now (deduplicated by messageId as always); otherwise the
        refusal is raised with its current reasons, and nothing new is kept.
        """
        kind, call_type = ("single", None) if batch_item else ROUTES[endpoint]
        request = IngestRequest(
            endpoint=endpoint, kind=kind, call_type=call_type, body=_once(raw), gzipped=False
        )
        try:
            payload = parse_body(await self._read(request))
        except (UnparsableBody, BodyTooLarge, InvalidGzip) as error:
            raise RefusedRequest(error, raw=raw, truncated=False) from error
        return await self._accept(request, source, payload, raw, _received_now(), keep=False)

    async def _read(self, request: IngestRequest) -> bytes:
        if request.kind == "single":
            limit, what = self._limits.max_message_bytes, "the message"
        else:
            limit, what = self._limits.max_batch_bytes, "the request body"
        return await read_body(request.body, limit=limit, gzipped=request.gzipped, what=what)

    async def _accept(
        self,
        request: IngestRequest,
        source: SourceInfo,
        payload: Any,
        raw: bytes,
        received_at: datetime,
        *,
        keep: bool,
    ) -> IngestOutcome:
        try:
            items, root = messages_of(request.kind, payload, self._limits)
        except PulsegateError as error:
            refusal = RefusedRequest(error, raw=raw, truncated=False)
            if keep:
                await self._keep_refusal(source, request, received_at, refusal)
            raise refusal from error
        if keep and self._rate_limiter is not None and source.id != API_SOURCE:
            # Not a refusal of what was sent: the SDK sends it again after Retry-After.
            await self._rate_limiter.admit(
                workspace_id=source.workspace_id,
                source_id=source.id,
                limit=source.rate_limit,
                messages=len(items),
            )
        return await self._store(request, source, items, root, raw, received_at, keep=keep)

    async def _store(
        self,
        request: IngestRequest,
        source: SourceInfo,
        items: list[Any],
        root: dict[str, Any] | None,
        raw: bytes,
        received_at: datetime,
        *,
        keep: bool,
    ) -> IngestOutcome:
        accepted: list[InboundRow] = []
        refused: list[RejectedRow] = []
        refused_labels: list[tuple[str, str]] = []  # (type, first reason) for the metrics
        outcome = IngestOutcome(
            allowed_origin=request.origin if source.allowed_origins is not None else None
        )
        arrival = Arrival(
            workspace_id=source.workspace_id,
            source_id=source.id,
            received_at=received_at,
            client_ip=request.client_ip,
            call_type=request.call_type,
            root=root,
            max_message_bytes=self._limits.max_message_bytes,
            check_size=len(raw) > self._limits.max_message_bytes,
            may_hold_nul=may_hold_nul(raw),
        )
        for index, item in enumerate(items):
            row, reasons = prepare_message(item, arrival)
            if row is not None:
                accepted.append(row)
                continue
            rejected_row, summary = refused_message(
                item,
                index=index,
                reasons=reasons,
                workspace_id=source.workspace_id,
                source_id=_kept_source_id(source),
                endpoint=request.endpoint,
                received_at=received_at,
                in_batch=root is not None or len(items) > 1,
            )
            refused.append(rejected_row)
            refused_labels.append((type_label(item, request.call_type), reasons[0]["code"]))
            outcome.rejected.append(summary)
        if accepted and self._suppressions is not None:
            accepted, dropped = await self._suppressions.split(source.workspace_id, accepted)
            if dropped:
                self._observer.messages_suppressed(row.type for row in dropped)
        await self._writer.write(accepted, refused if keep else [])
        if keep and accepted:
            self._observer.messages_stored(row.type for row in accepted)
        if keep and refused_labels:
            self._observer.messages_refused(refused_labels)
        if outcome.rejected and len(items) == 1 and root is None:
            raise InvalidRequest(
                outcome.rejected[0]["message"],
                code="invalid_message",
                details=outcome.rejected[0]["details"],
            )
        return outcome

    async def _keep_refusal(
        self,
        source: SourceInfo,
        request: IngestRequest,
        received_at: datetime,
        refusal: RefusedRequest,
    ) -> None:
        row = refused_request(
            refusal,
            workspace_id=source.workspace_id,
            source_id=_kept_source_id(source),
            endpoint=request.endpoint,
            received_at=received_at,
        )
        await self._writer.write([], [row])


# Messages written by the REST API carry this as their source: it is no row of `sources`,
# so their refusals are kept without one.
API_SOURCE = uuid.UUID("00000000-0000-0000-0000-00000000a91a")


def api_source(workspace_id: uuid.UUID) -> SourceInfo:
    return SourceInfo(
        id=API_SOURCE,
        workspace_id=workspace_id,
        enabled=True,
        webhook_secret=None,
        allowed_origins=None,
    )


def _kept_source_id(source: SourceInfo) -> uuid.UUID | None:
    return None if source.id == API_SOURCE else source.id


def _received_now() -> datetime:
    # Milliseconds, as Segment writes timestamps: the columns then equal the JSON exactly.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def _once(raw: bytes) -> AsyncIterator[bytes]:
    yield raw
