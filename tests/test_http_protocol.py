"""The HTTP protocol `serve` runs: a response's writes reach the socket as one.

Every server test answers through it (`tests/support/servers.py` starts `pulsegate serve`);
these pin down the joining itself, on a transport that records what it is asked to write.
"""

from __future__ import annotations

import asyncio

from pulsegate.http_protocol import FLUSH_BYTES, _JoinedWrites


async def end_of_turn() -> None:
    """Return once the event loop has run what was already scheduled: callbacks run in the
    order they were scheduled, so a flush scheduled before this one has run."""
    loop = asyncio.get_running_loop()
    turned = loop.create_future()
    loop.call_soon(turned.set_result, None)
    await turned


class RecordingTransport:
    """What an asyncio transport is asked to do, nothing more."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.eof_after: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def write_eof(self) -> None:
        self.eof_after = list(self.writes)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 5555)}.get(name, default)


async def test_the_writes_of_one_turn_of_the_loop_go_out_as_one() -> None:
    transport = RecordingTransport()
    joined = _JoinedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n")
    joined.write(b'{"success":true}')
    assert transport.writes == []  # not before the loop's turn ends
    await end_of_turn()
    assert transport.writes == [b'HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{"success":true}']
    joined.write(b"next")  # the next response: a write of its own
    joined.writelines([b" and", b" more"])
    await end_of_turn()
    assert transport.writes[1:] == [b"next and more"]
    assert joined.get_extra_info("peername") == ("127.0.0.1", 5555)  # the rest: the transport's


async def test_closing_or_ending_sends_what_waits_first_and_aborting_drops_it() -> None:
    closed, aborted = RecordingTransport(), RecordingTransport()
    loop = asyncio.get_running_loop()
    for transport in (closed, aborted):
        joined = _JoinedWrites(transport, loop)  # type: ignore[arg-type]
        joined.write(b"last words")
        if transport is closed:
            joined.close()
        else:
            joined.abort()
    assert (closed.writes, closed.closed) == ([b"last words"], True)
    assert (aborted.writes, aborted.aborted) == ([], True)
    await end_of_turn()  # the turn's end finds nothing more to send
    assert (closed.writes, aborted.writes) == ([b"last words"], [])
    ended = RecordingTransport()
    joined = _JoinedWrites(ended, loop)  # type: ignore[arg-type]
    joined.write(b"before the end")
    joined.write_eof()
    assert ended.eof_after == [b"before the end"]


async def test_a_long_body_goes_out_without_waiting_for_the_turn() -> None:
    """So that a body streamed in one turn still meets the transport's flow control."""
    transport = RecordingTransport()
    joined = _JoinedWrites(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    joined.write(b"headers\r\n\r\n")
    joined.write(b"x" * FLUSH_BYTES)
    assert transport.writes == [b"headers\r\n\r\n" + b"x" * FLUSH_BYTES]
    joined.write(b"tail")
    await end_of_turn()
    assert transport.writes[1:] == [b"tail"]
