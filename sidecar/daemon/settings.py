"""What the daemon's engine is told at start: a typed, frozen record.

The command line (sidecar/cli/daemon.py) fills it from its flags; tests build
it directly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DaemonSettings:
    node_name: str  # this node in dump names and keys
    cluster: str = ""  # the {cluster} of S3 keys
    window: float | None = None  # seconds before the trigger kept in a dump; None: all
    grace: float = 0.0  # seconds of recording after a trigger before the freeze
    dump_on_exit: bool = False  # container-exit dumps on every exit, not only a nonzero one
    keep_dead: float = 600.0  # seconds a dead container's window waits for late triggers
