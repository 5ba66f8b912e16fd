"""Kernel triggers: events from the BPF ring buffer turned into `Trigger`s.

The detection itself is in sidecar/kernel/bpf/recorder.bpf.c (exit_group with a nonzero
code, fatal signal delivery with the default action, OOM kill through
oom:mark_victim then the victim's SIGKILL). The decisions taken when a container
ends (`container_end`: which main-only triggers count, container exit) need to
know that its cgroup became empty, which the daemon checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sidecar.model.clock import iso
from sidecar.model.errors import UsageError
from sidecar.model.kernel_events import (
    CORE_DUMPED,
    CORE_KNOWN,
    NAME_TO_REASON,
    REASON_NAMES,
    SIGNALED,
    Event,
    Reason,
)
from sidecar.model.siginfo import FAULTS, from_kernel, s32, si_code_name
from sidecar.model.trigger import Trigger, signal_name


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
    if reason == Reason.FATAL_SIGNAL:
        # The thread that took it is `tid`; a real fault is told from a
        # `kill -SEGV` by its si_code (SEGV_MAPERR vs SI_USER).
        code = s32(ev.si_code)
        t.si_code = si_code_name(ev.code, code)
        if not from_kernel(code):
            t.si_pid = ev.addr & 0xFFFFFFFF
        elif ev.code in FAULTS:
            t.si_addr = ev.addr
    return t


# Signals whose default action dumps core (signal(7)'s "Core"): only their
# deaths can say `(core dumped)`.
CORE_SIGNALS = frozenset({"SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                          "SIGSEGV", "SIGXCPU", "SIGXFSZ", "SIGSYS"})  # fmt: skip


def core_dumped(code: int) -> bool | None:
    """Whether a process's end (a GROUP_EXIT code) dumped core; None when the
    kernel could not tell (no BTF) or it was not killed by a signal."""
    if not code & SIGNALED or not code & CORE_KNOWN:
        return None
    return bool(code & CORE_DUMPED)


def awaits_core(t: Trigger) -> bool:
    """A fatal-signal trigger whose core dump is not known yet: the kernel
    writes the core after the delivery that fired the trigger, and tells
    whether it did when the process ends."""
    return t.reason == "fatal-signal" and t.signal in CORE_SIGNALS and t.core_dumped is None


def note_end(triggers: Iterable[Trigger], ev: Event) -> bool:
    """A process ended (GROUP_EXIT): its fatal-signal triggers learn whether
    it dumped core (strace's `+++ killed by SIGSEGV (core dumped) +++`).
    Returns whether any trigger learnt it."""
    core = core_dumped(ev.code)
    if core is None:
        return False
    sig = signal_name(ev.code & 0xFF)
    found = False
    for t in triggers:
        if (
            t.reason == "fatal-signal"
            and t.core_dumped is None
            and (t.pid, t.signal)
            == (
                ev.pid,
                sig,
            )
        ):
            t.core_dumped = core
            found = True
    return found


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


# A trigger limited to the main process counts if the container ended within
# this long after it (the end of a pid namespace's init kills the rest at once).
MAIN_END_NS = 250_000_000


@dataclass(frozen=True)
class Exit:
    """How one process of a container ended (from a GROUP_EXIT event)."""

    ts_ns: int
    pid: int
    status: int  # exit status, or 0 when killed by a signal
    signal: int  # signal number, or 0
    comm: str = ""

    @classmethod
    def from_code(cls, ts_ns: int, pid: int, code: int, comm: str = "") -> Exit:
        if code & SIGNALED:
            return cls(ts_ns, pid, 0, code & 0xFF, comm)
        return cls(ts_ns, pid, code & 0xFF, 0, comm)

    @classmethod
    def from_event(cls, ev: Event) -> Exit:
        return cls.from_code(ev.ts, ev.pid, ev.code, ev.comm)

    @property
    def shell_status(self) -> int:
        return 128 + self.signal if self.signal else self.status


def main_exit(exits: list[Exit]) -> Exit | None:
    """The container's main process's end, among the exits just before it ended.

    When the init of a pid namespace ends, the kernel kills the rest with
    SIGKILL; without a pid namespace the main process ends after its
    children. Either way the main's end is the latest one not caused by
    SIGKILL, or, when everything was SIGKILLed (kill -9), the first.
    """
    if not exits:
        return None
    ordered = sorted(exits, key=lambda e: e.ts_ns)
    not_killed = [e for e in ordered if e.signal != 9]
    return not_killed[-1] if not_killed else ordered[0]


def confirm_main(candidates: list[Trigger], exits: list[Exit]) -> tuple[list[Trigger], int]:
    """Of the triggers limited to the main process, those of the main process,
    once the container has ended; and the container's exit status."""
    main = main_exit(exits)
    if main is None:
        return [], 0
    mine = sorted((t for t in candidates if t.pid == main.pid), key=lambda t: t.ts_ns)
    return mine, main.shell_status


def recent(exits: list[Exit], end_ns: int) -> list[Exit]:
    """The exits close enough before `end_ns` to have ended the container; a
    child that failed earlier while the container went on did not."""
    return [e for e in exits if end_ns - e.ts_ns <= MAIN_END_NS]


def container_end(
    last: Event,
    candidates: list[Trigger],
    exits: list[Exit],
    boot_offset_ns: int,
    *,
    container_exit: bool,
    dump_on_exit: bool,
) -> tuple[list[Trigger], int]:
    """A container ended with `last` (its last process's exit): the triggers that
    count, and its exit status.

    The main-only candidates count if they are the main process's; a
    container-exit trigger (when enabled) on a nonzero status, or on any with
    `dump_on_exit`, names the main process (pid and comm of the same process).
    """
    burst = recent(exits, last.ts)
    confirmed, code = confirm_main(candidates, burst)
    out = list(confirmed)
    if container_exit and (code != 0 or dump_on_exit):
        trig = container_exited(last, boot_offset_ns, code)
        main = main_exit(burst)
        if main is not None:
            trig.pid, trig.comm = main.pid, main.comm or trig.comm
        out.append(trig)
    return out, code


def parse_trigger_names(spec: str) -> tuple[int, int]:
    """`--triggers nonzero-exit:main,fatal-signal,oom-kill` -> (enabled, main-only) bits.

    A `:main` suffix limits a trigger to the container's main process;
    `:any` (the default) counts any process of the container.
    """
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
