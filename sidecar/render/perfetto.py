"""The perfetto form: the window as a timeline, in Chrome's trace-event JSON.

ui.perfetto.dev and chrome://tracing open it. The JSON object form:

    {"traceEvents": [...], "displayTimeUnit": "ns", "otherData": {...}}

- a track per thread: `M` metadata events name each process and thread
  (`process_name`, `thread_name`; again when a task's name changes, at an
  exec: viewers keep the last);
- a slice per call: an `X` complete event at the call's entry (`ts`, `dur` in
  microseconds, CLOCK_BOOTTIME), named after the syscall, with the decoded
  arguments (as `-o json` gives them), the return value as strace writes it
  and the errno; a call that had not returned is a `B` event without its end
  (viewers show it running to the end), exit and exit_group a slice of no
  length; categories `syscall`, plus `failed` and `runtime_setup`;
- instants (`i`): each signal delivery on its thread's track (named for the
  signal, with its siginfo as `-o json` gives it), the dump's triggers on the
  thread they name (or the whole trace), and where the container's own calls
  start after the runtime's setup.

Written as a stream, one event a line, so memory stays flat; when reading
stops at a damaged end, the JSON is still closed, around what was read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from sidecar.dump.records import SIGNAL
from sidecar.render.errnos import errno_name
from sidecar.render.forms import Calls, Record, RenderOptions
from sidecar.render.info import plain
from sidecar.render.output import Output, json_safe
from sidecar.render.runtime import RuntimeMarker, SetupRecord
from sidecar.render.siginfo import json_fields
from sidecar.render.signals import signal_name
from sidecar.render.trigger_lines import trigger_lines

_dumps = orjson.dumps


def us(ns: int) -> float:
    """Nanoseconds as the format's microseconds (exact to the nanosecond)."""
    return ns / 1000


class PerfettoForm:
    def __init__(
        self,
        header: Mapping[str, Any],
        calls: Calls,
        opts: RenderOptions,
        marker: RuntimeMarker | None = None,
    ) -> None:
        self.header = header
        self.calls = calls
        self.opts = opts
        self.marker = marker
        self.names: dict[tuple[int, int], str] = {}  # (pid, tid) -> the name last given
        self.procs: dict[int, str] = {}  # pid -> the process's name last given
        self.count = 0  # events written

    def _meta(self, pid: int, tid: int, comm: str) -> list[dict[str, Any]]:
        """Name events for a thread seen first or renamed (and its process)."""
        out: list[dict[str, Any]] = []
        if pid not in self.procs or (tid == pid and self.procs[pid] != comm):
            self.procs[pid] = comm
            out.append({"name": "process_name", "ph": "M", "pid": pid, "tid": pid,
                        "args": {"name": comm}})  # fmt: skip
        if self.names.get((pid, tid)) != comm:
            self.names[(pid, tid)] = comm
            out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                        "args": {"name": comm}})  # fmt: skip
        return out

    def _slices(self) -> Callable[[Record], dict[str, Any]]:
        """record -> its slice. A closure, so the per-record work reads locals only."""
        known, lookup, limit = self.calls.calls, self.calls.get, self.opts.limit

        def event(rec: Record) -> dict[str, Any]:
            seq, ts, dur, cpu, pid, tid, _comm, nr, a, ret, caps = rec
            if nr == SIGNAL:  # a delivery: an instant on its thread's track
                info: dict[str, Any] = {"siginfo": plain(json_fields(a, ret or 0)), "seq": seq,
                                        "cpu": cpu}  # fmt: skip
                cat = "signal"
                if rec.__class__ is SetupRecord:
                    info["runtime_setup"] = True
                    cat += ",runtime_setup"
                return {"name": signal_name(a[0] & 0xFFFFFFFF), "cat": cat, "ph": "i",
                        "s": "t", "ts": us(ts), "pid": pid, "tid": tid, "args": info}  # fmt: skip
            c = known.get(nr) or lookup(nr)
            if caps or c.out_bufs:
                args, _cut = c.json_args(a, caps, ret, limit)
            else:
                args = c.jargs(a)
            cat = "syscall"
            detail: dict[str, Any] = {"args": args, "seq": seq, "cpu": cpu}
            if ret is not None:
                detail["return"] = c.ret_text(ret, a)
                if -4095 <= ret < 0:
                    detail["errno"] = errno_name(-ret)
                    cat += ",failed"
            if rec.__class__ is SetupRecord:
                detail["runtime_setup"] = True
                cat += ",runtime_setup"
            ev: dict[str, Any] = {"name": c.name, "cat": cat, "ph": "X", "ts": us(ts),
                                  "pid": pid, "tid": tid, "args": detail}  # fmt: skip
            if dur is not None:
                ev["dur"] = us(dur)
            elif c.noreturn:
                ev["dur"] = 0
            else:
                ev["ph"] = "B"  # still running at the freeze: a slice with no end
            return ev

        return event

    def _instants(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        lines = {(t.ts, t.pid): t.text for t in trigger_lines(self.header)}
        for t in self.header.get("triggers") or []:
            if not isinstance(t, dict):
                continue
            ts, pid, tid = t.get("ts_ns"), t.get("pid"), t.get("tid")
            if not isinstance(ts, int) or ts <= 0:
                continue  # no time (a Kubernetes or manual trigger): in otherData only
            name = str(t.get("reason", "trigger"))
            text = lines.get((ts, pid)) if isinstance(pid, int) else None
            ev: dict[str, Any] = {"name": f"{name}: {text.strip('+ ')}" if text else name,
                                  "cat": "trigger", "ph": "i", "ts": us(ts), "s": "g",
                                  "args": plain(t)}  # fmt: skip
            if isinstance(pid, int):
                ev.update(pid=pid, tid=tid if isinstance(tid, int) else pid, s="t")
            out.append(ev)
        e = self.marker.entry if self.marker is not None else None
        if e is not None and self.marker is not None and self.marker.setup:
            out.append({"name": "entrypoint: the container's own calls start", "cat": "runtime",
                        "ph": "i", "s": "g", "ts": us(e.ts),
                        "args": {"runtime_setup_calls": self.marker.setup}})  # fmt: skip
        return out

    def _other(self) -> dict[str, Any]:
        h = self.header
        return {
            "source": "traceloop show -o perfetto",
            "clock": "CLOCK_BOOTTIME; add boot_offset_ns (ns) for the time since the epoch",
            "boot_offset_ns": h.get("boot_offset_ns"),
            "container": plain(h.get("container")),
            "pod": plain(h.get("pod")),
            "triggers": plain(h.get("triggers")),
        }

    def run(self, records: Iterable[Record], out: Output) -> None:
        out.flush()
        write = out.stream.write
        slice_of = self._slices()
        meta = self._meta
        names = self.names
        sep = b"\n"
        write(b'{"traceEvents":[')

        def emit(ev: dict[str, Any]) -> None:
            nonlocal sep
            line = _dumps(ev)
            if b"\xc2" in line or b"\x7f" in line:  # rare: see output.json_safe
                line = json_safe(line)
            write(sep + line)
            sep = b",\n"
            self.count += 1

        try:
            for rec in records:
                pid, tid, comm = rec[4], rec[5], rec[6]
                if names.get((pid, tid)) != comm:
                    for m in meta(pid, tid, comm):
                        emit(m)
                emit(slice_of(rec))
        finally:
            # Closed even when reading stopped early: the events read stay usable.
            for ev in self._instants():
                emit(ev)
            other = json_safe(_dumps(plain(self._other())))
            write(b'\n],"displayTimeUnit":"ns","otherData":' + other)
            write(b"}\n")
            out.stream.flush()
