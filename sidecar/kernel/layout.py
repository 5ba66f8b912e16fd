"""Sizes and memory layout shared with sidecar/kernel/bpf/recorder.bpf.c.

The kernel side keeps every container's window in chunks from one node-wide
pool (see the C file's opening comment). This module turns the recorder's
settings, above all the node budget `memory`, into that geometry (chunk
size, chunks in the pool, container slots, the floor each slot is promised)
and mirrors the C structs `rec`, `chunkhdr` and `slabmeta` as NumPy dtypes;
the loader checks them against the compiled program's own layout, so a
change on one side without the other fails at start-up instead of decoding
garbage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sidecar.model.errors import UsageError

MIB = 1 << 20
REC_BYTES = 128  # one call record (struct rec)
MIN_CHUNK = 8192
MAX_CHUNK = 65536  # capture offsets are 16-bit
# Every container may keep this many calls whatever the others do, as long as
# its calls capture FLOOR_CAPTURE bytes each on average (a path, a short
# buffer); heavier calls fit fewer in the same floor.
FLOOR_CALLS = 256
FLOOR_CAPTURE = 64
# The maps whose size does not follow the budget (cgroup table and cache,
# per-thread pairing, per-process exit state, syscall table, event ring,
# counters): 7.8 MiB of memlock on a 6.18 kernel with 2 CPUs (bench/run.py
# memory), rounded up (per-CPU counters grow with CPUs, a little).
FIXED_BYTES = 9 * MIB
MAX_SLOTS = 16384  # the kernel's cgroup table holds this many cgroups
# struct cgname of recorder.bpf.c: a slot's cgroup path as the kernel read it
# (8 names of up to 127 bytes, and 24 bytes of bookkeeping).
NAMES_BYTES = 24 + 8 * 128
# The default number of container slots leaves room for this many containers
# busy at once at their full window of the heaviest calls (both captures
# full); the rest of the budget is slots at their floor.
BUSY = 16


def _round8(n: int) -> int:
    return (n + 7) & ~7


def _pow2(n: int) -> int:
    """The smallest power of two >= n."""
    return 1 << max(n - 1, 0).bit_length()


@dataclass(frozen=True)
class Settings:
    """Recorder settings fixed at load time."""

    slots: int = 4096  # window cap: calls kept per container; a power of two
    memory: int = 128 * MIB  # the node budget for the kernel side's maps
    # Container slots (containers recorded at once); 0: as many as the budget
    # holds at their floors once BUSY full windows are set aside.
    containers: int = 0
    path_cap: int = 256  # bytes of each captured path string
    buf_cap: int = 128  # bytes of each captured read/write buffer
    sa_cap: int = 128  # bytes of each captured sockaddr
    buffers: bool = True  # capture read/write buffers at all
    syscall_filters: tuple[str, ...] = field(default_factory=tuple)  # empty: all
    raw_tracepoints: bool = True

    def __post_init__(self) -> None:
        if self.slots < 16 or self.slots & (self.slots - 1) or self.slots > 1 << 20:
            raise UsageError(f"--slots must be a power of two 16..1048576, not {self.slots}")
        for name, option in (
            ("path_cap", "--string-size"), ("buf_cap", "--buffer-size"), ("sa_cap", "sa_cap"),
        ):  # fmt: skip
            v = getattr(self, name)
            if not 16 <= v <= 4096:
                raise UsageError(f"{option} must be 16..4096 bytes, not {v}")
        if not 0 <= self.containers <= MAX_SLOTS:
            raise UsageError(f"--max-containers must be 1..{MAX_SLOTS}, not {self.containers}")
        if self.memory < 16 * MIB:
            raise UsageError(f"--memory must be at least 16 MiB, not {self.memory} bytes")
        if self.containers == 0:
            room = self.memory - FIXED_BYTES
            busy = min(BUSY * self.window_chunks * self.chunk_cost, room // 2)
            n = (room - busy) // (self.floor * self.chunk_cost + self.meta_size)
            object.__setattr__(self, "containers", max(min(n, MAX_SLOTS), 1))
        if self.spare < 0:
            most = (self.memory - FIXED_BYTES) // (self.floor * self.chunk_cost + self.meta_size)
            raise UsageError(
                f"--memory {self.memory // MIB} MiB holds at most {max(most, 0)} containers at "
                f"their floor of {FLOOR_CALLS} calls, not --max-containers {self.containers}"
            )

    @property
    def cap(self) -> int:
        """Bytes of the largest single capture."""
        return _round8(max(self.path_cap, self.buf_cap, self.sa_cap))

    @property
    def chunk(self) -> int:
        """Bytes of a chunk: a power of two, room for a few of the heaviest calls."""
        return min(MAX_CHUNK, max(MIN_CHUNK, _pow2(4 * self.worst_call)))

    @property
    def worst_call(self) -> int:
        """Bytes of a call that fills both its captures."""
        return REC_BYTES + 2 * self.cap

    @property
    def recs_per_chunk(self) -> int:
        return self.chunk // REC_BYTES

    @property
    def chunk_cost(self) -> int:
        """Kernel bytes per chunk: its data, its header and its pool queue entry."""
        return self.chunk + HDR_DTYPE.itemsize + 4

    @property
    def window_chunks(self) -> int:
        """Chunks that hold a window of the heaviest calls (and the one being filled)."""
        return -(-self.slots * self.worst_call // self.chunk) + 1

    @property
    def ring(self) -> int:
        """Chunks a container may hold: its window of the heaviest calls (a power of two)."""
        return _pow2(self.window_chunks + 1)

    @property
    def floor(self) -> int:
        """Chunks every container slot is promised (FLOOR_CALLS calls, and the one
        being filled)."""
        need = -(-FLOOR_CALLS * (REC_BYTES + FLOOR_CAPTURE) // self.chunk) + 1
        return min(need, self.ring)

    @property
    def meta_size(self) -> int:
        """Kernel bytes of a container slot apart from its chunks: its meta, and
        the names of its cgroup's directories read at adoption (`cgnames`)."""
        return int(meta_dtype(self.ring).itemsize) + NAMES_BYTES

    @property
    def nchunks(self) -> int:
        """Chunks in the pool: what the budget holds after the fixed maps and the slots."""
        rest = self.memory - FIXED_BYTES - self.containers * self.meta_size
        return max(rest // self.chunk_cost, 0)

    @property
    def spare(self) -> int:
        """Chunks beyond the floors, shared by the containers that grow."""
        return self.nchunks - self.containers * self.floor

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        d["syscall_filters"] = list(self.syscall_filters)
        d["chunk"] = self.chunk
        d["chunks"] = self.nchunks
        d["floor_chunks"] = self.floor
        return d


REC_DTYPE = np.dtype(
    [
        ("seq", "<u8"),  # 0 while the enter writes
        ("ts", "<u8"),
        ("dur", "<u8"),
        ("args", "<u8", (6,)),
        ("ret", "<i8"),
        ("pid", "<u4"),
        ("tid", "<u4"),
        ("nr", "<u2"),
        ("cpu", "<u2"),
        ("done", "u1"),
        ("captured", "u1"),  # bit i: capture i was read (possibly empty)
        ("gen", "<u2"),  # the chunk's incarnation, low 16 bits
        ("cap_off", "<u2", (2,)),
        ("cap_len", "<u2", (2,)),
        ("cap_full", "<u4", (2,)),
        ("comm", "S16"),
    ]
)
assert REC_DTYPE.itemsize == REC_BYTES

HDR_DTYPE = np.dtype([("fill", "<u8"), ("base", "<u8"), ("gen", "<u4"), ("calls", "<u4")])


def meta_dtype(ring: int) -> np.dtype[Any]:
    """struct slabmeta with a ring of `ring` chunk indexes."""
    return np.dtype(
        [
            ("head", "<u8"),  # calls in the closed chunks (see slab.calls_made)
            ("base", "<u8"),  # 0: sequence numbers start at 1
            ("cgroup", "<u8"),
            ("frozen_at", "<u8"),
            ("after_freeze", "<u8"),
            ("gen", "<u8"),
            ("main_tgid", "<u4"),
            ("triggers", "<u4"),
            ("cur", "<u8"),
            ("calls", "<u8"),
            ("lock", "<u8"),
            ("held", "<u4"),
            ("tail", "<u4"),
            ("top", "<u4"),
            ("pad", "<u4"),
            ("ring", "<u4", (ring,)),
        ]
    )
