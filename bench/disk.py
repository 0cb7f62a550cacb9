"""How long the disk holds an `fdatasync`: the floor under any commit's latency.

    python bench/disk.py [--seconds 60] [--directory DIR]

Writes 8 KB and calls `fdatasync` every 10 ms on a file in DIR (the current directory unless
told; give it the file system PostgreSQL keeps its WAL on) and prints the spread. `bench/run.py`
runs the same probe beside its half-load measurement and prints it under the p99: a commit
waits for its WAL's `fdatasync`, so while the disk holds one for 60 ms every request waits,
whatever the gateway does. On this machine (2026-11-28), with nothing else running, most took
0.2-0.4 ms and 5-7 a minute more than 25 ms, up to 90 ms (measured by a first version that
synced 16 KB every 2 ms; bench/README.md, "The disk under the half-load p99").

The probe adds about a hundred small writes a second to the disk it measures: a few more
`fdatasync`s beside the several hundred the gateway's commits make at half load.
Not part of the test suite: timings belong here.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

_BLOCK = b"\0" * 8192
_FILE_SIZE = 16 * 1024 * 1024  # a WAL segment's size: written round, never grown


@dataclass(frozen=True, slots=True)
class FsyncLatencies:
    milliseconds: tuple[float, ...]  # sorted

    def quantile(self, q: float) -> float:
        if not self.milliseconds:
            return 0.0
        return self.milliseconds[min(int(len(self.milliseconds) * q), len(self.milliseconds) - 1)]

    def over(self, milliseconds: float) -> int:
        return sum(1 for value in self.milliseconds if value > milliseconds)

    def summary(self) -> str:
        longest = self.milliseconds[-1] if self.milliseconds else 0.0
        return (
            f"{len(self.milliseconds):,} fdatasyncs, p50 {self.quantile(0.5):.2f} ms, "
            f"p99 {self.quantile(0.99):.2f} ms, longest {longest:.1f} ms; "
            f"{self.over(10)} over 10 ms, {self.over(25)} over 25 ms"
        )


class FsyncProbe:
    """A thread that writes and syncs a file every `interval` seconds while the block runs
    (`with FsyncProbe(directory) as probe: ...`, then `probe.latencies`)."""

    def __init__(self, directory: Path, *, interval: float = 0.01) -> None:
        self._directory = directory
        self._interval = interval
        self._stop = threading.Event()
        self._samples: list[float] = []
        self._thread = threading.Thread(target=self._run, name="fsync-probe", daemon=True)

    def __enter__(self) -> FsyncProbe:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def latencies(self) -> FsyncLatencies:
        return FsyncLatencies(tuple(sorted(self._samples)))

    def _run(self) -> None:
        descriptor, name = tempfile.mkstemp(prefix="fsync-probe-", dir=self._directory)
        try:
            os.ftruncate(descriptor, _FILE_SIZE)
            os.fsync(descriptor)
            offset = 0
            while not self._stop.wait(self._interval):
                os.pwrite(descriptor, _BLOCK, offset)
                offset = (offset + len(_BLOCK)) % _FILE_SIZE
                started = time.perf_counter()
                os.fdatasync(descriptor)
                self._samples.append((time.perf_counter() - started) * 1000)
        finally:
            os.close(descriptor)
            os.unlink(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--directory", type=Path, default=Path.cwd())
    args = parser.parse_args()
    with FsyncProbe(args.directory) as probe:
        time.sleep(args.seconds)
    print(f"{args.directory}: {probe.latencies.summary()}")


if __name__ == "__main__":
    main()
