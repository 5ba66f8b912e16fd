"""A dump's triggers as strace-style lines (`+++ exited with 3 +++`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from sidecar.model.text import escape


class TriggerLine(NamedTuple):
    ts: int
    pid: int
    text: str


def trigger_lines(header: Mapping[str, Any]) -> list[TriggerLine]:
    """The triggers that say how a process ended, with a time and a pid, in time order.

    strace ends a process with `+++ exited with N +++` or `+++ killed by SIG +++`;
    a dump's kernel triggers carry the same facts, so the strace form shows them
    where they happened."""
    out = []
    trig = header.get("triggers")
    for t in trig if isinstance(trig, list) else []:
        if not isinstance(t, dict):
            continue
        ts, pid, reason = t.get("ts_ns"), t.get("pid"), t.get("reason")
        if not isinstance(ts, int) or ts <= 0 or not isinstance(pid, int):
            continue
        code, sig = t.get("exit_code"), t.get("signal")
        if reason == "nonzero-exit" and isinstance(code, int):
            text = f"+++ exited with {code} +++"
        elif reason == "fatal-signal" and isinstance(sig, str):
            core = " (core dumped)" if t.get("core_dumped") is True else ""
            text = f"+++ killed by {escape(sig)}{core} +++"
            tid = t.get("tid")
            if isinstance(tid, int):
                pid = tid  # the thread that took the signal, as strace names it
        elif reason == "oom-kill":
            text = (
                f"+++ killed by {escape(sig) if isinstance(sig, str) else 'SIGKILL'} (OOM kill) +++"
            )
        else:
            continue
        out.append(TriggerLine(ts, pid, text))
    out.sort()
    return out


def first_trigger_ts(header: Mapping[str, Any]) -> int | None:
    """CLOCK_BOOTTIME of the first trigger that has one (the reference for --since)."""
    trig = header.get("triggers")
    for t in trig if isinstance(trig, list) else []:
        ts = t.get("ts_ns") if isinstance(t, dict) else None
        if isinstance(ts, int) and ts > 0:
            return ts
    return None
