"""What a dump's header says: triggers, identity, host, settings, counts.

Pure functions of values gathered elsewhere; see docs/dump-format.md.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any

from sidecar import __version__
from sidecar.model.clock import boot_offset_ns, iso
from sidecar.model.trigger import Trigger


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
