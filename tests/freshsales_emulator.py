"""The Freshsales emulator as a real HTTP server on a free port, for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from pulsegate.freshsales.emulator import EmulatorState, create_emulator
from tests.conftest import free_port


@dataclass
class RunningEmulator:
    url: str  # give it to pulsegate as the Freshsales domain
    state: EmulatorState


@contextmanager
def running_emulator(state: EmulatorState | None = None) -> Iterator[RunningEmulator]:
    state = state or EmulatorState()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_emulator(state), host="127.0.0.1", port=port, log_level="warning",
            lifespan="off",
        )
    )  # fmt: skip
    thread = threading.Thread(target=server.run, name="freshsales-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the emulator did not start"
        time.sleep(0.01)
    try:
        yield RunningEmulator(url=f"http://127.0.0.1:{port}", state=state)
    finally:
        server.should_exit = True
        thread.join(10)
