"""The trigger of `traceloop record`'s command when the kernel saw none.

The kernel reports nonzero exits and fatal signals of every process it
records; a command can still end badly without one (its status comes from a
process outside the recorded cgroup's view, or recording started late), and
`--always` asks for a dump of a command that succeeded.
"""

from __future__ import annotations

from sidecar.model.clock import iso
from sidecar.model.trigger import Trigger, signal_name


def command_ended(status: int, ts_ns: int, boot_offset_ns: int) -> Trigger:
    """`status` as a shell gives it: the exit code, or 128 + the signal number."""
    return Trigger(
        reason="manual" if status == 0 else "nonzero-exit",
        source="record",
        ts_ns=ts_ns,
        time=iso(ts_ns + boot_offset_ns),
        exit_code=status if status < 128 else None,
        signal=signal_name(status - 128) if status > 128 else None,
    )


def headline(triggers: list[Trigger], pid: int) -> Trigger:
    """The trigger a dump is named by: the command's own end when the kernel
    saw it (a child's routine failure before it, `grep -q` or `test -f`, is
    not what happened to the command), else the first."""
    own = [t for t in triggers if t.pid == pid]
    return own[-1] if own else triggers[0]
