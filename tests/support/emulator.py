"""The Freshsales emulator as a real HTTP server on a free port, for tests."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from freshsales_emulator.app import EmulatorState, create_emulator


@dataclass
class RunningEmulator:
    url: str  # give it to pulsegate as the Freshsales domain
    state: EmulatorState


def emulator_address() -> tuple[str, int]:
    """An address of its own on the loopback network: an account's rate budget is kept by
    host, and the outbox serves every workspace of the shared test database, so a reused
    127.0.0.1 port would hand this emulator another test's budget or leftover deliveries."""
    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(1, 254)}"
    with socket.socket() as sock:
        sock.bind((host, 0))
        return host, int(sock.getsockname()[1])


@contextmanager
def running_emulator(
    state: EmulatorState | None = None, *, address: tuple[str, int] | None = None
) -> Iterator[RunningEmulator]:
    """The emulator on `address`, or on an address of its own (see `emulator_address`)."""
    state = state or EmulatorState()
    host, port = address or emulator_address()
    server = uvicorn.Server(
        uvicorn.Config(
            create_emulator(state),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="freshsales-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.01)
    try:
        yield RunningEmulator(url=f"http://{host}:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(10)
