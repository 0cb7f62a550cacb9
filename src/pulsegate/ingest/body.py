"""Reading request bodies with the size limits enforced while reading.

Limits apply to the decompressed bytes. Neither a gzip bomb nor a chunked upload without a
Content-Length can make us hold more than `limit + 1` bytes: decompression output is capped
per step, and reading stops as soon as a limit is passed.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from pulsegate.errors import InvalidRequest, PayloadTooLarge

# gzip adds a header and, for incompressible data, a little growth; allow for both.
_COMPRESSED_SLACK = 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class BodyTooLarge(PayloadTooLarge):
    """Carries the first `limit` bytes read, so the refusal can be kept."""

    def __init__(self, message: str, *, partial: bytes) -> None:
        super().__init__(message, code="payload_too_large")
        self.partial = partial


class InvalidGzip(InvalidRequest):
    def __init__(self, message: str, *, partial: bytes) -> None:
        super().__init__(message, code="invalid_gzip")
        self.partial = partial


async def read_body(chunks: AsyncIterator[bytes], *, limit: int, gzipped: bool, what: str) -> bytes:
    """Return the (decompressed) body, or raise `BodyTooLarge` / `InvalidGzip`."""
    if gzipped:
        return await _read_gzip(chunks, limit=limit, what=what)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        parts.append(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(what, limit), partial=b"".join(parts)[:limit])
    return b"".join(parts)


async def _read_gzip(chunks: AsyncIterator[bytes], *, limit: int, what: str) -> bytes:
    decompressor = zlib.decompressobj(_GZIP_WBITS)
    output = bytearray()
    compressed_size = 0
    raw_prefix = bytearray()  # kept for the rejected record when the stream is not gzip at all
    async for chunk in chunks:
        compressed_size += len(chunk)
        if len(raw_prefix) < limit:
            raw_prefix += chunk[: limit - len(raw_prefix)]
        if compressed_size > limit + _COMPRESSED_SLACK:
            raise BodyTooLarge(_too_large(what, limit), partial=bytes(output[:limit]))
        data = chunk
        while data and not decompressor.eof:
            try:
                piece = decompressor.decompress(data, limit + 1 - len(output))
            except zlib.error as error:
                raise InvalidGzip(
                    f"the body is not valid gzip ({error})", partial=bytes(raw_prefix)
                ) from error
            output += piece
            if len(output) > limit:
                raise BodyTooLarge(
                    _too_large(what, limit) + " after decompression", partial=bytes(output[:limit])
                )
            data = decompressor.unconsumed_tail
    if not decompressor.eof:
        raise InvalidGzip("the gzip body is truncated", partial=bytes(raw_prefix))
    return bytes(output)


def _too_large(what: str, limit: int) -> str:
    return f"{what} is larger than the limit of {limit:,} bytes ({limit // 1024} KiB)"


# orjson parses up to 1024 levels but writes at most 254, and every stored or refused message
# is written again (into the log, into `rejected_messages`) inside a few levels of its own.
MAX_NESTING = 250
_WRAPPERS = 254 - MAX_NESTING


def nesting_fits(parsed: Any, raw: bytes) -> bool:
    """Whether the parsed body can be written again inside the wrappers storage adds.

    Counting brackets spares the check to every body that cannot be that deep; the check
    itself is a write by orjson, at C speed.
    """
    if raw.count(b"{") + raw.count(b"[") <= MAX_NESTING:
        return True
    wrapped = parsed
    for _ in range(_WRAPPERS):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return False
    return True
