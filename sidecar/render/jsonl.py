"""The JSON form: one object per call per line (docs/json-output.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .errnos import errno_name
from .forms import Calls, Record, RenderOptions, pump
from .output import Output

_dumps = json.JSONEncoder(separators=(",", ":")).encode


class JsonForm:
    def __init__(self, calls: Calls, opts: RenderOptions) -> None:
        self.calls = calls
        self.opts = opts

    def line(self, rec: Record) -> str:
        seq, ts, dur, cpu, pid, tid, comm, nr, a, ret, caps = rec
        c = self.calls.get(nr)
        args, cut = c.json_args(a, caps, ret, self.opts.limit)
        obj = {
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
            "raw_args": a,
        }
        if self.opts.file is not None:
            obj["file"] = self.opts.file
        return _dumps(obj)

    def run(self, records: Iterable[Record], out: Output) -> None:
        pump(records, self.line, out)
