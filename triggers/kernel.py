"""Kernel triggers: events from the BPF ring buffer turned into `Trigger`s.

The detection itself is in bpf/recorder.bpf.c (exit_group with a nonzero
code, fatal signal delivery with the default action, OOM kill through
oom:mark_victim then the victim's SIGKILL). The container-exit decision needs
to know the cgroup became empty, which userspace checks (`container_exited`).
"""

from __future__ import annotations

from sidecar.events import REASON_NAMES, Event, Reason
from sidecar.header import Trigger, iso, signal_name


def trigger_from_event(ev: Event, boot_offset_ns: int) -> Trigger:
    reason = Reason(ev.reason)
    t = Trigger(
        reason=REASON_NAMES.get(reason, str(int(reason))),
        source="kernel",
        ts_ns=ev.ts,
        time=iso(ev.ts + boot_offset_ns),
        pid=ev.pid,
        tid=ev.tid,
        comm=ev.comm,
    )
    if reason == Reason.NONZERO_EXIT:
        t.exit_code = ev.code
    elif reason in (Reason.FATAL_SIGNAL, Reason.OOM_KILL):
        t.signal = signal_name(ev.code)
    return t


def container_exited(ev: Event, boot_offset_ns: int, exit_code: int) -> Trigger:
    """The container's last task is gone (userspace saw the cgroup empty)."""
    return Trigger(
        reason=REASON_NAMES[Reason.CONTAINER_EXIT],
        source="kernel",
        ts_ns=ev.ts,
        time=iso(ev.ts + boot_offset_ns),
        pid=ev.pid,
        comm=ev.comm,
        exit_code=exit_code,
    )


def confirm_main(candidates: list[Trigger]) -> tuple[list[Trigger], int]:
    """Triggers limited to the main process, once the container has ended.

    Returns them primary first, and the container's exit status as a shell
    shows it. The main process usually ends after its children, so its exit
    is the last nonzero exit; a fatal signal other than SIGKILL names the
    crash; SIGKILLs that follow a crash are the pid namespace being torn
    down, not causes, and are dropped when there is a cause.
    """
    exits = [t for t in candidates if t.exit_code]
    signals = [t for t in candidates if t.signal and t.signal != "SIGKILL"]
    kills = [t for t in candidates if t.signal == "SIGKILL"]
    if exits:
        primary = exits[-1]
        status = primary.exit_code or 0
    elif signals:
        primary = signals[0]
        status = 128 + _signum(primary.signal)
    elif kills:
        primary = kills[0]
        status = 128 + 9
    else:
        return [], 0
    causes = [t for t in candidates if t.signal != "SIGKILL"] or kills[:1]
    ordered = [primary, *sorted((t for t in causes if t is not primary), key=lambda t: t.ts_ns)]
    return ordered, status


def _signum(name: str | None) -> int:
    import signal

    try:
        return int(signal.Signals[name or ""].value)
    except KeyError:
        return 0


def parse_trigger_names(spec: str) -> tuple[int, int]:
    """`--triggers nonzero-exit:main,fatal-signal,oom-kill` -> (enabled, main-only) bits.

    A `:main` suffix limits a trigger to the container's main process;
    `:any` (the default) counts any process of the container.
    """
    from sidecar.errors import UsageError
    from sidecar.events import NAME_TO_REASON

    enabled = main_only = 0
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, _, scope = item.partition(":")
        if name not in NAME_TO_REASON:
            known = ", ".join(sorted(NAME_TO_REASON))
            raise UsageError(f"--triggers: unknown trigger {name!r} (known: {known})")
        if scope not in ("", "any", "main"):
            raise UsageError(f"--triggers: {item!r}: scope must be 'main' or 'any'")
        bit = int(NAME_TO_REASON[name])
        enabled |= bit
        if scope == "main":
            main_only |= bit
    return enabled, main_only
