"""A trigger: one thing that said \"dump now\" about a container incarnation."""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass, field
from typing import Any


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
    # A fatal signal's siginfo: si_code's name (SEGV_MAPERR for a fault,
    # SI_USER or SI_TKILL for kill/tkill), the fault's address, the sender.
    si_code: str | None = None
    si_addr: int | None = None
    si_pid: int | None = None
    # A fatal signal's process dumped core (strace's `(core dumped)`); None
    # when not known (no BTF, or the process's end was not seen).
    core_dumped: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v != {}}
