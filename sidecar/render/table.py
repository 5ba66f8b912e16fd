"""The table form: traceloop's columns, plus time and duration.

    CONTAINER  TIME  DURATION  CPU  PID  TID  COMM  SYSCALL  PARAMETERS  RET

With Kubernetes identity in the header the CONTAINER column becomes
K8S.NODE, K8S.NAMESPACE, K8S.PODNAME and K8S.CONTAINERNAME, as in the
gadget. Columns fit the given width: PARAMETERS takes what the others leave,
the identity, COMM and SYSCALL columns shrink first when the terminal is
narrow, and cut text ends in `…`. Without a width (--wide) nothing is cut.
RET is the call's return as strace shows it; when it does not fit, an error
drops its text first (`-1 ENOENT`). exit, exit_group and rt_sigreturn show
`X` as in traceloop; a call still running at dump time shows `unfinished`, one
its thread was killed in `killed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sidecar.dump.records import SIGNAL
from sidecar.model.text import escape
from sidecar.render.forms import Calls, Record, RenderOptions, pump
from sidecar.render.output import BOLD, RED, RESET, Output
from sidecar.render.siginfo import short_text
from sidecar.render.signals import signal_name
from sidecar.render.timefmt import duration, relative

ELLIPSIS = "…"


def fit(s: str, w: int) -> str:
    return s if len(s) <= w else (s[: w - 1] + ELLIPSIS if w > 0 else "")


@dataclass
class Column:
    key: str
    title: str
    width: int
    right: bool = False


PARAMS_MIN = 24


def identity(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(title, value) of the columns that say whose calls these are."""
    pod = header.get("pod")
    if isinstance(pod, dict):
        return [
            ("K8S.NODE", escape(str(pod.get("node") or ""))),
            ("K8S.NAMESPACE", escape(str(pod.get("namespace") or ""))),
            ("K8S.PODNAME", escape(str(pod.get("name") or ""))),
            ("K8S.CONTAINERNAME", escape(str(pod.get("container") or ""))),
        ]
    c = header.get("container")
    name = (c.get("name") or c.get("cgroup_path")) if isinstance(c, dict) else None
    return [("CONTAINER", escape(str(name or "")))]


def _layout(ident: list[tuple[str, str]], width: int | None) -> list[Column]:
    """The columns shown and their widths; `width` None: all, at natural widths."""
    cols = [Column(f"id{i}", t, min(max(len(t), len(v)), 24)) for i, (t, v) in enumerate(ident)]
    cols += [
        Column("time", "TIME", 11, True),
        Column("dur", "DURATION", 8, True),
        Column("cpu", "CPU", 3, True),
        Column("pid", "PID", 7, True),
        Column("tid", "TID", 7, True),
        Column("comm", "COMM", 15),
        Column("name", "SYSCALL", 15),
        Column("params", "PARAMETERS", 40),
        Column("ret", "RET", 16),
    ]
    if width is None:
        return cols

    def need() -> int:
        fixed = sum(c.width for c in cols if c.key != "params")
        return fixed + len(cols) - 1 + PARAMS_MIN

    def resize(key: str, w: int) -> None:
        for c in cols:
            if c.key.startswith(key):
                c.width = min(c.width, w)

    def drop(key: str) -> None:
        cols[:] = [c for c in cols if not c.key.startswith(key)]

    # A narrow terminal keeps what matters most: time, pid, comm, the call and
    # its result. Each step gives up a little more, until the line fits.
    steps = [("resize", "id", 12), ("drop", "tid", 0), ("drop", "cpu", 0),
             ("resize", "comm", 8), ("resize", "name", 11), ("drop", "id", 0),
             ("drop", "dur", 0)]  # fmt: skip
    for action, key, w in steps:
        if need() <= width:
            break
        if action == "drop":
            drop(key)
        else:
            resize(key, w)
    by = {c.key: c for c in cols}
    rest = width - (need() - PARAMS_MIN)
    if rest - 26 >= 60:  # a wide terminal: room for errno texts too
        by["ret"].width = 40
        rest -= 26
    # Below the narrowest layout PARAMETERS gives way, down to a few characters.
    by["params"].width = max(8, rest)
    return cols


# The per-row cells, in the order line() computes them.
CELLS = ("time", "dur", "cpu", "pid", "tid", "comm", "name", "params", "ret")


class TableForm:
    def __init__(self, header: Mapping[str, Any], calls: Calls, opts: RenderOptions) -> None:
        self.calls = calls
        self.opts = opts
        self.wide = opts.width is None
        ident = identity(header)
        self.cols = cols = _layout(ident, opts.width)
        # The identity cells are the same on every row: render them once, into
        # a %-format for the others (the fastest way to pad a row's cells).
        values = {f"id{i}": v for i, (_, v) in enumerate(ident)}
        prefix = ""
        fields, keys = [], []
        for c in cols:
            if c.key in values:
                v = values[c.key] if self.wide else fit(values[c.key], c.width)
                prefix += v.ljust(c.width) + " "
            else:
                fields.append("%s" if c.key == "ret" else f"%{'' if c.right else '-'}{c.width}s")
                keys.append(CELLS.index(c.key))
        self.fmt = prefix.replace("%", "%%") + " ".join(fields)
        self.pick = itemgetter(*keys)
        w = {c.key: c.width for c in cols}
        self.w_comm, self.w_name = w.get("comm", 15), w.get("name", 15)
        self.w_params, self.w_ret = w["params"], w["ret"]
        # Narrower than the narrowest layout: cut whole lines at the edge.
        self.cut = opts.width if opts.width is not None and self._min_width() > opts.width else None
        self._line = self._lines()

    def _min_width(self) -> int:
        return sum(c.width for c in self.cols) + len(self.cols) - 1

    def header_line(self) -> str:
        parts = []
        for c in self.cols:
            t = c.title if self.wide else fit(c.title, c.width)
            parts.append(t.rjust(c.width) if c.right else t.ljust(c.width))
        s = " ".join(parts).rstrip()
        if self.cut is not None:
            s = fit(s, self.cut)
        return f"{BOLD}{s}{RESET}" if self.opts.color else s

    def line(self, rec: Record) -> str:
        return self._line(rec)

    def _lines(self) -> Callable[[Record], str]:
        """record -> row. A closure, so the per-row work reads locals only."""
        known, lookup, limit = self.calls.calls, self.calls.get, self.opts.limit
        wide, color, cut = self.wide, self.opts.color, self.cut
        w_comm, w_name, w_params, w_ret = self.w_comm, self.w_name, self.w_params, self.w_ret
        fmt, pick = self.fmt, self.pick
        t0: list[int] = []  # the first shown call's time, once there is one

        def line(rec: Record) -> str:
            _seq, ts, dur, cpu, pid, tid, comm, nr, a, ret, caps = rec
            if not t0:
                t0.append(ts)
            failed = False
            if nr == SIGNAL:  # a delivery: the signal's name, its siginfo, no result
                name, params, r = signal_name(a[0] & 0xFFFFFFFF), short_text(a, ret), "---"
            else:
                c = known.get(nr) or lookup(nr)
                params = c.table_args(a, caps, ret, limit)
                name = c.text_name
                if c.table_x:
                    r = "X"
                elif ret is None:
                    r = "unfinished" if dur is None else "killed"
                else:
                    r = c.ret_text(ret, a)
                    failed = -4095 <= ret < 0
            if not comm.isprintable() or "\\" in comm:
                comm = escape(comm)  # a task names itself: ESC, CR... are shown escaped
            if not wide:
                if len(comm) > w_comm:
                    comm = fit(comm, w_comm)
                if len(name) > w_name:
                    name = fit(name, w_name)
                if len(params) > w_params:
                    params = fit(params, w_params)
                if len(r) > w_ret:
                    if failed:
                        r = r.split(" (", 1)[0]  # `-1 ENOENT`: the name says it
                    r = fit(r, w_ret)
            s: str = fmt % pick(
                (relative(ts - t0[0]), duration(dur), cpu, pid, tid, comm, name, params, r)
            )
            if cut is not None:
                s = fit(s, cut)
            if failed and color:
                return RED + s + RESET
            return s

        return line

    def run(self, records: Iterable[Record], out: Output) -> None:
        out.lines([self.header_line()])
        pump(records, self._line, out)
