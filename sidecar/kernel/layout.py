"""Sizes and memory layout shared with sidecar/kernel/bpf/recorder.bpf.c.

The C structs `slot` and `slabmeta` are mirrored here as NumPy dtypes; the
loader checks them against the compiled program's own layout, so a change on
one side without the other fails at start-up instead of decoding garbage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sidecar.model.errors import UsageError


def _round8(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class Settings:
    """Recorder settings fixed at load time."""

    slots: int = 4096  # per container; a power of two
    containers: int = 64  # slabs: containers recorded at once
    path_cap: int = 256  # bytes of each captured path string
    buf_cap: int = 128  # bytes of each captured read/write buffer
    sa_cap: int = 128  # bytes of each captured sockaddr
    buffers: bool = True  # capture read/write buffers at all
    syscall_filters: tuple[str, ...] = field(default_factory=tuple)  # empty: all
    raw_tracepoints: bool = True

    def __post_init__(self) -> None:
        if self.slots < 16 or self.slots & (self.slots - 1):
            raise UsageError(f"--slots must be a power of two >= 16, not {self.slots}")
        if not 1 <= self.containers <= 4096:
            raise UsageError(f"--max-containers must be 1..4096, not {self.containers}")
        for name, option in (
            ("path_cap", "--string-size"), ("buf_cap", "--buffer-size"), ("sa_cap", "sa_cap"),
        ):  # fmt: skip
            v = getattr(self, name)
            if not 16 <= v <= 4096:
                raise UsageError(f"{option} must be 16..4096 bytes, not {v}")

    @property
    def cap(self) -> int:
        """Bytes of each of a slot's two capture areas."""
        return _round8(max(self.path_cap, self.buf_cap, self.sa_cap))

    @property
    def slot_size(self) -> int:
        return int(slot_dtype(self.cap).itemsize)

    @property
    def slab_bytes(self) -> int:
        return self.slot_size * self.slots

    def to_wire(self) -> dict[str, Any]:
        d = asdict(self)
        d["syscall_filters"] = list(self.syscall_filters)
        return d


HEADER_FIELDS: list[Any] = [
    ("seq_begin", "<u8"),
    ("ts", "<u8"),
    ("dur", "<u8"),
    ("args", "<u8", (6,)),
    ("ret", "<i8"),
    ("pid", "<u4"),
    ("tid", "<u4"),
    ("nr", "<u4"),
    ("cpu", "<u2"),
    ("done", "u1"),
    ("captured", "u1"),  # bit i: capture i was read (possibly empty)
    ("comm", "S16"),
    ("cap_len", "<u4", (2,)),
    ("cap_full", "<u4", (2,)),
    ("seq_end", "<u8"),
]

META_DTYPE = np.dtype(
    [
        ("head", "<u8"),
        ("base", "<u8"),
        ("cgroup", "<u8"),
        ("frozen_at", "<u8"),
        ("after_freeze", "<u8"),
        ("gen", "<u8"),
        ("main_tgid", "<u4"),
        ("triggers", "<u4"),
        ("pad", "<u8"),
    ]
)


def slot_dtype(cap: int) -> np.dtype[Any]:
    """The dtype of one slot with capture areas of `cap` bytes."""
    return np.dtype([*HEADER_FIELDS, ("cap", "u1", (2, cap))])
