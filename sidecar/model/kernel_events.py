"""Events the kernel side sends through its ring buffer, and its counters.

Mirrors the EV_*, T_* and ST_* constants and `struct event` of
sidecar/kernel/bpf/recorder.bpf.c.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag


class EventType(IntEnum):
    NEW_SLAB = 1  # a cgroup made its first syscall and got a container slot
    TRIGGER = 2  # a crash trigger fired (and froze the slab)
    GROUP_EXIT = 3  # a process of a recorded cgroup ended
    TABLE_FULL = 4  # a container found no free slot: not recorded (once per cgroup)
    UNRECORDED_EXIT = 5  # a process of such a container ended (code as GROUP_EXIT's)


class Reason(IntFlag):
    NONZERO_EXIT = 1
    FATAL_SIGNAL = 2
    OOM_KILL = 4
    CONTAINER_EXIT = 8


REASON_NAMES = {
    Reason.NONZERO_EXIT: "nonzero-exit",
    Reason.FATAL_SIGNAL: "fatal-signal",
    Reason.OOM_KILL: "oom-kill",
    Reason.CONTAINER_EXIT: "container-exit",
}
NAME_TO_REASON = {v: k for k, v in REASON_NAMES.items()}

# Indexes of the per-CPU `stats` array.
ST_TABLE_FULL, ST_ADOPTED, ST_RING_DROPS, ST_CAPTURE_FAIL = range(4)
ST_NO_CHUNK, ST_GROWN, ST_RECYCLED = range(4, 7)
STAT_NAMES = (
    "table_full",  # calls of a new cgroup that found no free container slot
    "adopted",  # container slots handed out
    "ring_drops",  # events lost because the ring buffer was full
    "capture_failures",  # arguments' memory the kernel could not read
    "no_chunk",  # calls not recorded: their container could get no chunk
    "chunks_grown",  # chunks taken from the pool beyond a container's floor
    "chunks_recycled",  # chunks a container reused (its oldest calls overwritten)
)

# GROUP_EXIT codes: an exit status, or SIGNALED | signal number, with
# CORE_KNOWN when the kernel read whether it dumped core (CORE_DUMPED).
SIGNALED = 0x10000
CORE_DUMPED = 0x20000
CORE_KNOWN = 0x40000

_EVENT = struct.Struct("<IIQQIIIiQ16siIQ")


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    slab: int
    cgroup: int
    ts: int  # CLOCK_BOOTTIME ns
    pid: int
    tid: int
    reason: int
    code: int  # exit code or signal number
    gen: int  # the slab's incarnation
    comm: str
    si_code: int = 0  # a fatal signal's siginfo si_code (SEGV_MAPERR, SI_USER...)
    addr: int = 0  # ...and the first word of its union: a fault's address

    @classmethod
    def parse(cls, data: bytes) -> Event:
        # An older kernel side (bench --compare-bpf) sends no siginfo: zeros.
        fields = _EVENT.unpack_from(data.ljust(_EVENT.size, b"\0"))
        t, slab, cg, ts, pid, tid, reason, code, gen, comm, si_code, _, addr = fields
        return cls(
            EventType(t), slab, cg, ts, pid, tid, reason, code, gen,
            comm.split(b"\0", 1)[0].decode("utf-8", "replace"), si_code, addr,
        )  # fmt: skip


EVENT_SIZE = _EVENT.size
