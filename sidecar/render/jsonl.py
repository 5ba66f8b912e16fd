"""The JSON form: one object per call per line (docs/json-output.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

from sidecar.dump.records import SIGNAL
from sidecar.render.calls import envp_vars
from sidecar.render.errnos import errno_name
from sidecar.render.forms import Calls, Record, RenderOptions
from sidecar.render.output import Output, json_safe
from sidecar.render.runtime import SetupRecord
from sidecar.render.siginfo import json_fields
from sidecar.render.signals import signal_name

_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE
NOTHING_CUT: list[str] = []  # shared by every call without captures; never changed


class JsonForm:
    def __init__(self, calls: Calls, opts: RenderOptions) -> None:
        self.calls = calls
        self.opts = opts
        self.obj = self._objects()

    def _objects(self) -> Callable[[Record], dict[str, Any]]:
        """record -> object. A closure, so the per-record work reads locals only."""
        known = self.calls.calls
        lookup = self.calls.get
        limit = self.opts.limit
        file = self.opts.file

        def obj(rec: Record) -> dict[str, Any]:
            seq, ts, dur, cpu, pid, tid, comm, nr, a, ret, caps = rec
            if nr == SIGNAL:
                name = signal_name(a[0] & 0xFFFFFFFF)
                sig = {"seq": seq, "ts": ts, "cpu": cpu, "pid": pid, "tid": tid, "comm": comm,
                       "signal": name, "siginfo": json_fields(a, ret)}  # fmt: skip
                if rec.__class__ is SetupRecord:
                    sig["runtime_setup"] = True
                if file is not None:
                    sig["file"] = file
                return sig
            c = known.get(nr) or lookup(nr)
            if caps or c.out_bufs:
                args, cut = c.json_args(a, caps, ret, limit)
            else:  # most calls capture nothing: skip the captures' bookkeeping
                args, cut = c.jargs(a), NOTHING_CUT
            out = {
                "seq": seq,
                "ts": ts,
                "cpu": cpu,
                "pid": pid,
                "tid": tid,
                "comm": comm,
                "syscall": c.name,
                "nr": nr,
                "args": args,
                "ret": ret,
                "errno": errno_name(-ret) if ret is not None and -4095 <= ret < 0 else None,
                "duration_ns": dur,
                "truncated": cut,
            }
            if caps and c.argv:
                vars_ = envp_vars(caps)
                if vars_ is not None:
                    out["envp_vars"] = vars_  # strace's `/* N vars */`
            if rec.__class__ is SetupRecord:
                out["runtime_setup"] = True
            if file is not None:
                out["file"] = file
            return out

        return obj

    def line(self, rec: Record) -> str:
        return json_safe(_dumps(self.obj(rec))).decode()

    def run(self, records: Iterable[Record], out: Output) -> None:
        # orjson's UTF-8 bytes go straight to the (buffered) stream, one line at
        # a time: holding thousands of them for one big write costs three times
        # as much (orjson allocates each line generously, then shrinks it).
        out.flush()
        write = out.stream.write
        obj = self.obj
        for rec in records:
            line = _dumps(obj(rec), option=_NEWLINE)
            if b"\xc2" in line or b"\x7f" in line:  # rare: see output.json_safe
                line = json_safe(line)
            write(line)
