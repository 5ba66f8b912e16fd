"""The floor: empty BPF programs on raw_syscalls sys_enter and sys_exit.

Whatever a recorder does per syscall, it cannot cost less than running two
programs that return at once; this measures that fixed price (the tracepoint
slow path plus two BPF program calls). `classic=True` gives the same for
classic (perf-event) tracepoints, which have a higher floor of their own.
"""

from __future__ import annotations

from typing import Any

RAW = b"""
RAW_TRACEPOINT_PROBE(sys_enter) { return 0; }
RAW_TRACEPOINT_PROBE(sys_exit) { return 0; }
"""

CLASSIC = b"""
TRACEPOINT_PROBE(raw_syscalls, sys_enter) { return 0; }
TRACEPOINT_PROBE(raw_syscalls, sys_exit) { return 0; }
"""


def load(classic: bool = False) -> Any:
    """Compile and attach the empty programs; returns the bcc BPF object."""
    from bcc import BPF  # bench/ may import bcc directly; sidecar/ keeps it in kernel.py

    return BPF(text=CLASSIC if classic else RAW)
