"""The strace form: `openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)`.

Like `strace -f`: once a second thread or process shows up, every line starts
with `[pid N] `; ` = ` is aligned at column 40 as strace does; a call that had
not returned when the window was frozen ends in `<unfinished ...>`; exit and
exit_group end in `= ?`. The dump's triggers are shown where they happened, as
strace's `+++ exited with 3 +++` and `+++ killed by SIGSEGV +++`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sidecar.render.forms import Calls, Record, RenderOptions, pump
from sidecar.render.output import BOLD, RED, RESET, Output
from sidecar.render.trigger_lines import TriggerLine

ALIGN = 40


class StraceForm:
    def __init__(
        self, calls: Calls, opts: RenderOptions, triggers: Sequence[TriggerLine] = ()
    ) -> None:
        self.calls = calls
        self.opts = opts
        self.pending = list(triggers)
        self.tids: set[int] = set()
        self.multi = False

    def _prefix(self, tid: int) -> str:
        return f"[pid {tid:5}] " if self.multi else ""

    def _trigger(self, t: TriggerLine) -> str:
        s = self._prefix(t.pid) + t.text
        return f"{BOLD}{s}{RESET}" if self.opts.color else s

    def line(self, rec: Record) -> str:
        _seq, ts, _dur, _cpu, _pid, tid, _comm, nr, a, ret, caps = rec
        if not self.multi:
            self.tids.add(tid)
            self.multi = len(self.tids) > 1
        head = ""
        if self.pending and self.pending[0].ts <= ts:
            while self.pending and self.pending[0].ts <= ts:
                head += self._trigger(self.pending.pop(0)) + "\n"
        c = self.calls.get(nr)
        s = f"{self._prefix(tid) if self.multi else ''}{c.text_name}("
        s += c.strace_args(a, caps, ret, self.opts.limit)
        if ret is None:
            if not c.noreturn:
                return head + s + " <unfinished ...>"
            s += ") "
            return head + (s if len(s) >= ALIGN else s.ljust(ALIGN)) + "= ?"
        s += ") "
        s = (s if len(s) >= ALIGN else s.ljust(ALIGN)) + "= " + c.ret_text(ret, a, caps)
        if self.opts.color and -4095 <= ret < 0:
            s = RED + s + RESET
        return head + s

    def run(self, records: Iterable[Record], out: Output) -> None:
        pump(records, self.line, out)
        # Triggers after the last call. Not when reading failed: the calls
        # between would be missing, and the lines would read as if next.
        out.lines([self._trigger(t) for t in self.pending])
        self.pending.clear()
