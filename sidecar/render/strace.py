"""The strace form: `openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)`.

Like `strace -f`: while more than one thread is traced, every line starts with
`[pid N] ` (see Threads); ` = ` is aligned at column 40 as strace does; a call
that had not returned when the window was frozen ends in `<unfinished ...>`;
exit and exit_group end in `= ?`, and so does a call its thread was killed in.
An exec by a thread other than the leader returns in the leader's pid, after
strace's `+++ superseded by execve in pid N +++`. The dump's triggers are shown
where they happened, as strace's `+++ exited with 3 +++` and `+++ killed by SIGSEGV +++`.
strace's -t/-tt/-ttt, -r and -T (Stamps) put the same times in the same places.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from sidecar.dump.records import DUR, NR, PID, RET, SIGNAL, TID, TS
from sidecar.render.forms import Calls, Record, RenderOptions
from sidecar.render.output import BOLD, CHUNK, RED, RESET, Output
from sidecar.render.siginfo import strace_line
from sidecar.render.timefmt import strace_clock, strace_elapsed, strace_relative
from sidecar.render.trigger_lines import TriggerLine

ALIGN = 40
FORKS = frozenset({"clone", "clone3", "fork", "vfork"})
EXECS = frozenset({"execve", "execveat"})
EXECED_MAX = 65_536  # threads ended by an exec that are remembered, whatever a file holds


@dataclass(frozen=True)
class Stamps:
    """strace's time options: -t (1), -tt (2), -ttt (3); -r; -T."""

    clock: int = 0
    relative: bool = False
    elapsed: bool = False
    boot_offset_ns: int = 0  # CLOCK_BOOTTIME -> epoch (the dump header's boot_offset_ns)


class Threads:
    """Which lines get `[pid N]`, by strace -f's rule: while it traces more than
    one thread. A thread counts from its first call (or from the fork that made
    it: a successful clone adds a thread whose id, in the container's pid
    namespace, need not be the one recorded) until just after its exit, its
    process's exit_group, or a trigger line that ends its process (`+++ killed
    by SIGKILL +++`), or a successful execve of another thread of its process
    (the kernel ends the other threads during an exec, and they make no exit
    call: a runtime's Go threads before the entrypoint). Played over every
    record of the dump, filtered out or not, so a filter never changes which
    lines get the prefix."""

    def __init__(self, calls: Calls) -> None:
        self.calls = calls
        self.kinds: dict[int, str] = {}  # nr -> "fork", "exec", "exit", "exit_group" or ""
        self.live: dict[int, int] = {}  # tid -> pid
        self.forks = 0  # children forked but not seen yet
        # Ended by the last line; strace drops them after that line, not before.
        self.leaving_tids: set[int] = set()
        self.leaving_pids: set[int] = set()
        # Threads an exec ended -> when the exec returned: their calls entered
        # before then come after the execve's record (records are in entry
        # order of the call, and the exec takes a while) and do not revive them.
        self.execed: dict[int, int] = {}

    @property
    def multi(self) -> bool:
        return len(self.live) + self.forks > 1

    def see(self, rec: Record) -> bool:
        """Account for `rec`; does its line get the prefix?"""
        if self.leaving_tids or self.leaving_pids:
            self._leave()
        tid = rec[TID]
        live = self.live
        if tid not in live:
            end = self.execed.pop(tid, None) if self.execed else None
            if end is not None and rec[TS] < end:
                self.execed[tid] = end  # a straggler of an ended thread
                return len(live) + self.forks > 1
            if self.forks:
                self.forks -= 1
            live[tid] = rec[PID]
        multi = len(live) + self.forks > 1
        nr = rec[NR]
        kind = self.kinds.get(nr)
        if kind is None:
            name = self.calls.get(nr).name
            kind = self.kinds[nr] = (
                "fork"
                if name in FORKS
                else "exec"
                if name in EXECS
                else name
                if name in ("exit", "exit_group")
                else ""
            )
        if kind:
            ret = rec[RET]
            if kind == "fork":
                if ret is not None and 0 < ret < 1 << 31:
                    self.forks += 1
            elif kind == "exec":
                if ret == 0:
                    pid = rec[PID]
                    ended = [t for t, p in live.items() if p == pid and t != tid]
                    self.leaving_tids.update(ended)
                    if tid != pid:
                        # the thread goes on as the leader (`superseded`): its id ends
                        self.leaving_tids.add(tid)
                    dur = rec[DUR]
                    if ended and dur is not None and len(self.execed) < EXECED_MAX:
                        self.execed.update(dict.fromkeys(ended, rec[TS] + dur))
            elif kind == "exit":
                self.leaving_tids.add(tid)
            else:
                self.leaving_pids.add(rec[PID])
        return multi

    def end(self, pid: int) -> None:
        """A trigger line said process `pid` ended."""
        self.leaving_pids.add(pid)

    def _leave(self) -> None:
        pids, tids = self.leaving_pids, self.leaving_tids
        self.live = {t: p for t, p in self.live.items() if t not in tids and p not in pids}
        pids.clear()
        tids.clear()


# One line to show: the record, whether it gets the prefix, and the triggers
# (with theirs) that happened before it.
Shown = tuple[Record, bool, list[tuple[TriggerLine, bool]]]


class StraceForm:
    def __init__(
        self,
        calls: Calls,
        opts: RenderOptions,
        triggers: Sequence[TriggerLine] = (),
        stamps: Stamps = Stamps(),
    ) -> None:
        self.calls = calls
        self.opts = opts
        self.stamps = stamps
        self.pending = list(triggers)
        self.threads = Threads(calls)
        self.passed: list[tuple[TriggerLine, bool]] = []  # passed, not yet shown
        self.last_ts: int | None = None  # the previous line's time (-r)
        self.timed = bool(stamps.clock or stamps.relative)
        self.elapsed = stamps.elapsed

    def mark(
        self, records: Iterable[Record], keep: Callable[[Record], bool] | None = None
    ) -> Iterator[Shown]:
        """The records `keep` keeps, each with its prefix decided from every record."""
        see = self.threads.see
        nothing: list[tuple[TriggerLine, bool]] = []  # shared, never changed
        for rec in records:
            if self.pending and self.pending[0].ts <= rec[TS]:
                self._pass(rec[TS])
            prefix = see(rec)
            if keep is None or keep(rec):
                if self.passed:
                    passed, self.passed = self.passed, []
                    yield rec, prefix, passed
                else:
                    yield rec, prefix, nothing

    def _pass(self, ts: int) -> None:
        threads = self.threads
        while self.pending and self.pending[0].ts <= ts:
            t = self.pending.pop(0)
            self.passed.append((t, threads.multi))
            threads.end(t.pid)

    def _leader(self, tid: int, prefix: bool, ts: int) -> str:
        s = f"[pid {tid:5}] " if prefix else ""
        st = self.stamps
        if st.clock:
            s += strace_clock(ts + st.boot_offset_ns, st.clock) + " "
        if st.relative:
            rel = strace_relative(ts - self.last_ts if self.last_ts is not None else 0)
            s += f"(+{rel}) " if st.clock else rel + " "
        self.last_ts = ts
        return s

    def _trigger(self, t: TriggerLine, prefix: bool) -> str:
        # A trigger without a time (never here: trigger_lines drops them) would
        # take the previous line's.
        s = self._leader(t.pid, prefix, t.ts or (self.last_ts or 0)) + t.text
        return f"{BOLD}{s}{RESET}" if self.opts.color else s

    def line(self, shown: Shown) -> str:
        rec, prefix, passed = shown
        _seq, ts, dur, _cpu, pid, tid, _comm, nr, a, ret, caps = rec
        head = "".join(self._trigger(t, p) + "\n" for t, p in passed) if passed else ""
        if nr == SIGNAL:
            return head + self._leader(tid, prefix, ts) + strace_line(a, ret)
        c = self.calls.calls.get(nr) or self.calls.get(nr)
        if self.timed:
            s = self._leader(tid, prefix, ts) + c.text_name + "("
        elif prefix:
            s = f"[pid {tid:5}] {c.text_name}("
        else:
            s = c.text_name + "("
        s += c.strace_args(a, caps, ret, self.opts.limit)
        if ret is None:
            # dur without ret: the thread was killed in the call, which never
            # returned to it (strace's `= ?`); neither: still running.
            if not c.noreturn and dur is None:
                return head + s + " <unfinished ...>"
            s += ") "
            return head + (s if len(s) >= ALIGN else s.ljust(ALIGN)) + "= ?"
        if ret == 0 and tid != pid and c.name in EXECS and dur is not None:
            return head + self._superseded(s, c.text_name, pid, tid, ts, dur)
        s += ") "
        s = (s if len(s) >= ALIGN else s.ljust(ALIGN)) + "= " + c.ret_text(ret, a, caps)
        if self.elapsed and dur is not None:
            s += " " + strace_elapsed(dur)
        if self.opts.color and -4095 <= ret < 0:
            s = RED + s + RESET
        return head + s

    def _superseded(self, s: str, name: str, pid: int, tid: int, ts: int, dur: int) -> str:
        """An exec by a thread other than the leader: the new image runs as the
        leader (the kernel gives the thread the process's id), so strace -f
        sees the call return in pid `pid`, and says so."""
        lead = self._leader(pid, True, ts + dur) if self.timed else f"[pid {pid:5}] "
        done = f"{lead}<... {name} resumed>) "
        done = (done if len(done) >= ALIGN else done.ljust(ALIGN)) + "= 0"
        if self.elapsed:
            done += " " + strace_elapsed(dur)
        return f"{s} <unfinished ...>\n{lead}+++ superseded by execve in pid {tid} +++\n{done}"

    def run(self, shown: Iterable[Shown], out: Output) -> None:
        buf = out.buf
        line = self.line
        for item in shown:
            buf.append(line(item))
            if len(buf) >= CHUNK:
                out.flush()
        # Triggers after the last call shown. Not when reading failed (the
        # exception leaves before this): the calls between would be missing,
        # and the lines would read as if next.
        multi = self.threads.multi
        rest = self.passed + [(t, multi) for t in self.pending]
        out.lines([self._trigger(t, p) for t, p in rest])
        self.passed, self.pending = [], []
