"""A local Freshsales for tests and trials: a development tool, not part of pulsegate.

    python -m freshsales_emulator --port 9100 --api-key test-key

See `freshsales_emulator.app` for what it answers and how tests drive it.
"""

from freshsales_emulator.app import create_emulator
from freshsales_emulator.data import EmulatorState

__all__ = ["EmulatorState", "create_emulator"]
