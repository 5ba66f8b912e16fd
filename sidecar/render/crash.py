"""The crash summary that ends `show --info`: why did it die, on one screen.

From the header's triggers: how the container ended (exit code, fatal signal
with its siginfo when the trigger carries it, OOM kill) and the thread that
died; from the records, read once: that thread's last call, the entrypoint's
execve (after how much runtime setup), and the last few failed calls of the
container's own processes, or the runtime's when the entrypoint never ran.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.dump.records import NR, PID, RET, SEQ, TID
from sidecar.render.forms import Record
from sidecar.render.runtime import RuntimeMarker, SetupRecord

FAILED_SHOWN = 5
# Triggers that say how a process ended, best first when several were seen.
DEATHS = ("fatal-signal", "oom-kill", "nonzero-exit", "pod-restart", "container-exit")
# siginfo fields a fatal-signal trigger may carry (the kernel's kernel_siginfo,
# strace's names), printed in this order when present.
SIGINFO = ("si_signo", "si_code", "si_errno", "si_addr", "si_pid", "si_uid", "si_status")
SIGINFO_ALIASES = {"addr": "si_addr", "fault_addr": "si_addr", "code": "si_code"}


def dying_trigger(header: Mapping[str, Any]) -> dict[str, Any] | None:
    """The trigger that best says how the container ended: the first fatal
    signal or OOM kill; else the last nonzero exit (a shell's child may fail
    first; the container ends with the process that exits last)."""
    trig = [t for t in header.get("triggers") or [] if isinstance(t, dict)]
    for reason in DEATHS:
        found = [t for t in trig if t.get("reason") == reason]
        if found:
            return found[-1] if reason == "nonzero-exit" else found[0]
    return trig[0] if trig else None


def siginfo(t: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The siginfo a fatal-signal trigger carries (None: it has none).

    This is the one place that reads it: today's kernel triggers name the
    signal only; the fields above are shown when a trigger has them."""
    if not t:
        return None
    out: dict[str, Any] = {}
    for k, v in t.items():
        name = SIGINFO_ALIASES.get(str(k), str(k))
        if name in SIGINFO and v is not None:
            out[name] = v
    if not out:
        return None
    if t.get("signal") is not None:
        out.setdefault("si_signo", t["signal"])
    return {k: out[k] for k in SIGINFO if k in out}


def how_it_ended(t: Mapping[str, Any] | None, header: Mapping[str, Any]) -> str:
    container = header.get("container")
    status = container.get("exit_status") if isinstance(container, dict) else None
    if t is None:
        return "no trigger recorded" + (f"; exit status {status}" if status is not None else "")
    reason, code, sig = t.get("reason"), t.get("exit_code"), t.get("signal")
    if reason == "fatal-signal":
        core = " (core dumped)" if t.get("core_dumped") is True else ""
        return f"killed by {sig or 'a signal'}{core}"
    if reason == "oom-kill":
        return f"killed by {sig or 'SIGKILL'} (OOM kill)"
    if reason == "nonzero-exit":
        return f"exited with {code}"
    if reason == "pod-restart":
        detail = t.get("detail") if isinstance(t.get("detail"), dict) else {}
        why = detail.get("reason") if detail else None
        ec = detail.get("exitCode") if detail else None
        facts = [str(x) for x in (why, None if ec is None else f"exit code {ec}") if x]
        return "restarted by Kubernetes" + (f" ({', '.join(facts)})" if facts else "")
    if reason == "container-exit":
        return "container exited" + (f" with {code}" if code is not None else "")
    return f"no crash: {reason} dump" + (f"; exit status {status}" if status is not None else "")


@dataclass
class Crash:
    """Collects what the summary needs while the records are read once."""

    header: Mapping[str, Any]
    marker: RuntimeMarker
    trigger: dict[str, Any] | None = None
    own_failed: deque[Record] = field(default_factory=lambda: deque(maxlen=FAILED_SHOWN))
    setup_failed: deque[Record] = field(default_factory=lambda: deque(maxlen=FAILED_SHOWN))
    last_call: Record | None = None
    entry_call: Record | None = None
    _pid: int | None = None
    _tid: int | None = None
    _seen: int = 0

    def __post_init__(self) -> None:
        self.trigger = dying_trigger(self.header)
        t = self.trigger or {}
        pid, tid = t.get("pid"), t.get("tid")
        self._pid = pid if isinstance(pid, int) else None
        self._tid = tid if isinstance(tid, int) else self._pid  # a process: its leader

    def add(self, rec: Record) -> None:
        ret = rec[RET]
        if ret is not None and -4095 <= ret < 0:
            (self.setup_failed if rec.__class__ is SetupRecord else self.own_failed).append(rec)
        if rec[TID] == self._tid and rec[PID] == self._pid:
            self.last_call = rec
        e = self.marker.entry
        if self.entry_call is None and e is not None and rec[SEQ] == e.seq:
            self.entry_call = rec
        elif not self._seen and rec[NR] in self.marker.exec_nrs and ret == 0:
            self.entry_call = rec  # `record`'s dumps start at the command's execve
        self._seen += 1

    @property
    def failed(self) -> list[Record]:
        """The container's own last failures; the runtime's when it never got
        to the entrypoint (then its failures are why)."""
        if self.own_failed or self.marker.started:
            return list(self.own_failed)
        return list(self.setup_failed)

    @property
    def failed_in_setup(self) -> bool:
        return not self.own_failed and not self.marker.started and bool(self.setup_failed)

    @property
    def thread(self) -> dict[str, Any] | None:
        t = self.trigger or {}
        if self._pid is None:
            return None
        return {"pid": self._pid, "tid": self._tid, "comm": t.get("comm")}
