"""What a dump's header says: triggers, identity, host, settings, counts.

Pure functions of values gathered elsewhere; see docs/dump-format.md.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import __version__


def iso(wall_ns: int) -> str:
    return (
        datetime.fromtimestamp(wall_ns / 1e9, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME timestamp to get wall-clock ns since the epoch."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"SIG{sig}"


@dataclass
class Trigger:
    """One thing that said "dump now" about a container incarnation."""

    reason: str  # nonzero-exit, fatal-signal, oom-kill, container-exit, pod-restart, manual
    source: str  # kernel, kubernetes, manual, record
    ts_ns: int  # CLOCK_BOOTTIME ns (0 when unknown)
    time: str  # ISO 8601 wall clock
    pid: int | None = None
    tid: int | None = None
    comm: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}


def host_info() -> dict[str, str]:
    return {
        "hostname": socket.gethostname(),
        "node": os.environ.get("NODE_NAME", socket.gethostname()),
        "kernel": platform.release(),
        "arch": platform.machine(),
    }


def build_header(
    *,
    triggers: list[Trigger],
    container: dict[str, Any],
    pod: dict[str, Any] | None,
    recorder: dict[str, Any],
    counts: dict[str, int],
    syscalls: dict[int, list[Any]],
    captures: dict[int, list[list[int]]],
    window: dict[str, Any] | None = None,
) -> dict[str, Any]:
    now = time.time_ns()
    return {
        "created": iso(now),
        "created_ns": now,
        "boot_offset_ns": boot_offset_ns(),
        "triggers": [t.to_wire() for t in triggers],
        "container": container,
        "pod": pod,
        "host": host_info(),
        "recorder": {"version": __version__, **recorder},
        "counts": counts,
        "window": window,
        "syscalls": syscalls,
        "captures": captures,
    }
