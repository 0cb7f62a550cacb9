"""CPU seconds of processes, read from /proc (Linux), for the ingest benchmark.

A process's CPU is its user plus system time. The gateway's share is its process tree (the
`serve` process, its uvicorn workers and its projector process, if any), PostgreSQL's is every
process named `postgres` on the machine: the postmaster, the backends and the background
writers, embedded or server. So another database busy on the same server would count too; keep
it idle while measuring.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSample:
    gateway: float  # the server's process tree
    http: float  # the server's own process: the HTTP one when `serve` projects in another
    postgres: float

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(
            self.gateway - other.gateway, self.http - other.http, self.postgres - other.postgres
        )


@dataclass(frozen=True, slots=True)
class _Process:
    pid: int
    parent: int
    name: str
    seconds: float


def _processes() -> list[_Process]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        # The name is in parentheses and may hold spaces; the fields after it are fixed.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])
        found.append(_Process(int(entry.name), int(fields[1]), name, (utime + stime) / _TICKS))
    return found


def sample(root: int) -> CpuSample:
    """CPU seconds used so far by `root`'s process tree (PostgreSQL aside) and by PostgreSQL.

    Processes that ended before the sample are not counted: the servers measured keep theirs
    alive for the whole run (PostgreSQL's backends are pooled connections)."""
    processes = _processes()
    children: dict[int, list[_Process]] = {}
    for process in processes:
        children.setdefault(process.parent, []).append(process)
    gateway = 0.0
    stack = [p for p in processes if p.pid == root]
    http = sum(p.seconds for p in stack)
    while stack:
        process = stack.pop()
        if process.name != "postgres":
            gateway += process.seconds
        stack.extend(children.get(process.pid, ()))
    postgres = sum(p.seconds for p in processes if p.name == "postgres")
    return CpuSample(gateway=gateway, http=http, postgres=postgres)
