"""Which calls are the container runtime's setup, not the container's own.

A daemon's dump of a container starts with its runtime at work: runc's init
(comm `runc`, then `runc:[0:PARENT]`, `runc:[1:CHILD]`, `runc:[2:INIT]`),
crun's child (`crun`), youki's... set up namespaces, mounts and the cgroup
until the runtime's init execs the container's entrypoint. In a runc
container running `sh -c 'cat /x; exit 7'` that is 1,260 of 1,312 calls and
133 of 135 failures. This module tells them apart, from the records alone,
in one pass:

- Until the container's own story starts, a call is setup when its task is
  the runtime's: its comm names a runtime (RUNTIMES: runtimes name their
  tasks so), or its thread or process made setup calls before (runc's init
  re-executes /proc/self/exe, which renames it `exe` for a few calls).
- The story starts at the first successful execve or execveat of such a task
  that is not the runtime re-executing itself (/proc/self/exe or a
  /proc/self/fd/N memfd, or an argv[0] naming the runtime): that execve is
  the container's first own call. It also starts at the first call of a task
  that is not the runtime's: a window that no longer reaches back to the
  setup, or `traceloop record`'s dumps, which start at the command's execve
  (their header has counts.before_exec, and nothing in them is setup).
- After that only the exec'ing process's other threads are setup, for calls
  they entered before the execve returned: the kernel ends them during it.

A process the runtime starts later in a running container (`runc exec`) is
not marked: what it runs is part of the container's story from then on.
A task's comm is the workload's to choose, but the workload runs only once
its story has started, so it cannot hide its own calls this way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.dump.captures import ARGV_N, Kind
from sidecar.dump.records import CAPS, COMM, DUR, NR, PID, RET, SEQ, TID, TS
from sidecar.render.forms import Calls, Record
from sidecar.render.strings import argv_strings

# Task names runtimes give their processes before the entrypoint runs; a name
# matches exactly or with a `:[...]` stage suffix (runc:[2:INIT]).
RUNTIMES = ("runc", "crun", "youki", "docker-runc", "containerd-shim", "conmon")
# Executing these is a runtime re-executing itself, not the entrypoint.
SELF_EXEC = (b"/proc/self/exe", b"/proc/self/fd/", b"/proc/thread-self/fd/")
# Records are in the order calls were entered, give or take the few
# microseconds between taking a sequence number and reading the clock.
SETTLED_NS = 10_000_000
# Bounds on what is remembered, whatever a file holds (a runtime's setup has
# a few processes and threads, under a handful of names).
TASKS_MAX = 65_536
NAMES_MAX = 64


def is_runtime_comm(comm: str) -> bool:
    name = comm.split(":[", 1)[0]
    return name in RUNTIMES


class SetupRecord(list[Any]):
    """A record of the runtime's setup: a list like any record, so every form
    and filter reads it as one; `isinstance` tells it apart wherever it goes."""

    __slots__ = ()


@dataclass(frozen=True)
class Entrypoint:
    """The execve that started the container's own story."""

    seq: int
    ts: int
    end: int | None  # when it returned (None: still running at the freeze)
    pid: int
    tid: int
    filename: bytes | None
    argv: list[bytes] | None


@dataclass
class RuntimeMarker:
    """Marks the setup records of one dump's stream (see the module's text)."""

    exec_nrs: frozenset[int]
    enabled: bool = True
    started: bool = False
    entry: Entrypoint | None = None
    setup: int = 0  # setup records seen
    comms: dict[str, int] = field(default_factory=dict)  # setup calls per runtime task name
    _tids: set[int] = field(default_factory=set)
    _pids: set[int] = field(default_factory=set)

    @classmethod
    def for_dump(cls, header: Mapping[str, Any], calls: Calls) -> RuntimeMarker:
        nrs = frozenset(nr for nr, name in calls.names.items() if name in ("execve", "execveat"))
        counts = header.get("counts")
        # `traceloop record` starts its dumps at the command's own execve.
        recorded = isinstance(counts, dict) and "before_exec" in counts
        return cls(nrs, enabled=not recorded, started=recorded)

    def mark(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records, those of the runtime's setup as SetupRecord."""
        it = iter(records)
        if not self.enabled:
            yield from it
            return
        for rec in it:
            e = self.entry
            if self.started and (e is None or e.end is None or rec[TS] > e.end + SETTLED_NS):
                # Nothing after this can be setup: no exec'ing process to end,
                # or calls entered well after the exec returned (the dump is in
                # entry order: a call entered before would be here already).
                yield rec
                yield from it
                return
            if self.is_setup(rec):
                self.setup += 1
                comm = rec[COMM]
                if is_runtime_comm(comm) and (comm in self.comms or len(self.comms) < NAMES_MAX):
                    self.comms[comm] = self.comms.get(comm, 0) + 1
                yield SetupRecord(rec)
            else:
                yield rec

    def is_setup(self, rec: Record) -> bool:
        """Whether `rec` is setup; call once per record, in the dump's order."""
        if self.started:
            e = self.entry
            return (
                e is not None
                and rec[PID] == e.pid
                and rec[TID] != e.tid
                and rec[TID] in self._tids
                and (e.end is None or rec[TS] < e.end)
            )
        tid, pid = rec[TID], rec[PID]
        if not (tid in self._tids or pid in self._pids or is_runtime_comm(rec[COMM])):
            self.started = True  # a task the runtime did not start: the story is on
            return False
        if len(self._tids) < TASKS_MAX:
            self._tids.add(tid)
            self._pids.add(pid)
        if rec[NR] in self.exec_nrs and rec[RET] == 0:
            filename, argv = exec_target(rec)
            if not self_exec(filename, argv):
                dur = rec[DUR]
                self.entry = Entrypoint(
                    rec[SEQ], rec[TS], None if dur is None else rec[TS] + dur, pid, tid,
                    filename, argv,
                )  # fmt: skip
                self.started = True
                return False
        return True


def exec_target(rec: Record) -> tuple[bytes | None, list[bytes] | None]:
    """The filename and argv an execve or execveat captured (None: not captured)."""
    filename: bytes | None = None
    argv: list[bytes] | None = None
    for _arg, kind, data, full in rec[CAPS]:
        if kind == Kind.STR and filename is None:
            nul = data.find(b"\0")
            filename = data if nul < 0 else data[:nul]
        elif kind == Kind.ARGV:
            argv = argv_strings(data, full, ARGV_N)[0]
    return filename, argv


def self_exec(filename: bytes | None, argv: list[bytes] | None) -> bool:
    """Is this execve the runtime re-executing itself (runc's `runc init`)?"""
    if filename is not None and filename.startswith(SELF_EXEC):
        return True
    if argv:
        base = argv[0].rsplit(b"/", 1)[-1].decode("utf-8", "replace")
        return is_runtime_comm(base)
    return False
