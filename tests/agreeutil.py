"""The (syscall, result) agreement of a recording with strace (issue 14).

Both sides are strace-form text: strace's own output file(s), and `traceloop
show -o strace` of the dump. Each is cut into one sequence per process (per
thread: strace -f and our `[pid N]` both name threads) of (syscall name,
result) pairs, where the result is the value and errno name strace prints
after `=` (`3`, `-1 ENOENT`, `?`, `? ERESTARTSYS`), without the note in
parentheses. `<unfinished ...>` and its `<... resumed>` are one call, given
at the resume. `--- SIG` lines are not calls; they are collected per thread
as (signal, si_code) and checked apart: every one of strace's must be ours.

Agreement of a program: the sum over its processes of the length of the
longest common subsequence of the two sequences, over the sum of the longer
of the two lengths. 1.0 means the same calls with the same results in the
same order in every process; a call one side lacks or a result that differs
costs one pair.

Which of our processes are compared:
- same run (`traceloop record -- strace -f -o OUT -- PROG`): the threads
  strace names (its own are not), and for the first of them (strace's child,
  which runs strace's code until it executes PROG) our calls from its first
  execve on. Threads are paired by their id, which is the same in both.
- separate runs: threads paired by their order of creation (Trace.creation_order);
  values that differ between runs by nature (addresses printed in hex, pids
  and thread ids returned by clone/fork/wait/getpid...) are masked.
- a window whose head was overwritten (the dump's counts.overwritten > 0):
  threads with no call left in the window are left out (counted), and the
  others are compared over their last calls, as many as we kept.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# x86_64: the kernel's (tracefs's) names that strace writes otherwise
STRACE_NAME = {"newfstat": "fstat", "newstat": "stat", "newlstat": "lstat",
               "newuname": "uname", "sendfile64": "sendfile", "umount": "umount2"}  # fmt: skip
# Calls whose success value is a process or thread id (differs between runs).
PIDISH = {"clone", "clone3", "fork", "vfork", "wait4", "waitid", "getpid", "gettid",
          "getppid", "set_tid_address", "getpgid", "getpgrp", "getsid", "setsid"}  # fmt: skip

FORKS = {"clone", "clone3", "fork", "vfork"}

PREFIX = re.compile(r"^(?:\[pid +(\d+)\] |(\d+) +)")
CALL = re.compile(r"^([a-z_0-9]+)\(")
PID_CHANGED = re.compile(r"<pid changed to \d+ \.\.\.>$")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>")
SIGNAL = re.compile(r"^--- (SIG[A-Z0-9+]+) \{si_signo=[A-Z0-9+]+, si_code=([A-Z_0-9-]+)")
RESULT = re.compile(r"\)\s+= (-?\d+|0x[0-9a-f]+|\?)(?: ([A-Z][A-Z0-9_]*))?(?: \([^()]*(?:\([^()]*\)[^()]*)*\))?$")  # fmt: skip


Pair = tuple[str, str]


@dataclass
class Trace:
    """One side: per thread, its calls and its signals, threads in order of appearance."""

    calls: dict[int, list[Pair]] = field(default_factory=dict)
    # (signal, si_code, how many of the thread's calls came before it)
    signals: dict[int, list[tuple[str, str, int]]] = field(default_factory=dict)
    execve_at: dict[int, int] = field(default_factory=dict)  # index of a thread's first execve
    children: dict[int, list[int]] = field(default_factory=dict)  # by its clone/fork results

    def creation_order(self) -> list[int]:
        """Threads in order of creation: the first, then depth first, each
        thread's children in the order it made them (independent of how
        concurrent threads interleave); threads no parent's call names last."""
        order: list[int] = []
        seen: set[int] = set()

        def visit(tid: int) -> None:
            stack = [tid]
            while stack:
                t = stack.pop()
                if t in seen or t not in self.calls:
                    continue
                seen.add(t)
                order.append(t)
                stack.extend(reversed(self.children.get(t, [])))

        for tid in self.calls:
            visit(tid)
        return order

    def thread(self, tid: int) -> list[Pair]:
        self.signals.setdefault(tid, [])
        return self.calls.setdefault(tid, [])


def result(line: str) -> str | None:
    """What follows the call's `=`: value and errno name, or None when the line has none."""
    m = RESULT.search(line)
    if m is None:
        return None
    return m.group(1) + (f" {m.group(2)}" if m.group(2) else "")


def parse(lines: Iterable[str], default_tid: int = 0) -> Trace:
    """strace-form lines (strace's -f/-ff file or our show -o strace) as a Trace."""
    t = Trace()
    pending: dict[int, str] = {}
    for line in lines:
        m = PREFIX.match(line)
        tid = int(m.group(1) or m.group(2)) if m else default_tid
        body = line[m.end() :] if m else line
        if s := SIGNAL.match(body):
            t.signals[tid].append((s.group(1), s.group(2), len(t.thread(tid))))
            continue
        if r := RESUMED.match(body):
            name = pending.pop(tid, r.group(1))
        elif c := CALL.match(body):
            name = c.group(1)
            # -ff writes an exec by a non-leader thread `<pid changed to L ...>`
            # in the thread's file where -f writes `<unfinished ...>`.
            if body.endswith("<unfinished ...>") or PID_CHANGED.search(body):
                pending[tid] = name
                t.thread(tid)
                continue
        else:
            continue  # `+++ exited`, `--- stopped`, strace's own messages
        res = result(body)
        if res is None:
            continue
        name = STRACE_NAME.get(name, name)
        calls = t.thread(tid)
        if name == "execve" and tid not in t.execve_at:
            t.execve_at[tid] = len(calls)
        if name in FORKS and res.isdigit() and res != "0":
            t.children.setdefault(tid, []).append(int(res))
        calls.append((name, res))
    # A call still unfinished when its thread ended (strace prints no resume
    # when a thread is killed): its result is unknown.
    for tid, name in pending.items():
        t.thread(tid).append((STRACE_NAME.get(name, name), "?"))
    return t


def masked(pairs: Sequence[Pair]) -> list[Pair]:
    """Pairs with the values that differ between runs by nature replaced."""
    out = []
    for name, res in pairs:
        if res.startswith("0x"):
            res = "0x?"
        elif (name in PIDISH or name == "rt_sigreturn") and res.isdigit() and res != "0":
            # rt_sigreturn returns what the interrupted code held (a pid after wait4)
            res = "N"
        out.append((name, res))
    return out


def lcs_length(a: Sequence[Pair], b: Sequence[Pair]) -> int:
    """Length of a longest common subsequence (Myers' O((N+M)D) greedy)."""
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    hi = 0
    while hi < len(a) - lo and hi < len(b) - lo and a[-1 - hi] == b[-1 - hi]:
        hi += 1
    x, y = a[lo : len(a) - hi], b[lo : len(b) - hi]
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        return lo + hi
    v = {1: 0}
    for d in range(n + m + 1):
        for k in range(-d, d + 1, 2):
            i = v[k + 1] if k == -d or (k != d and v[k - 1] < v[k + 1]) else v[k - 1] + 1
            j = i - k
            while i < n and j < m and x[i] == y[j]:
                i += 1
                j += 1
            v[k] = i
            if i >= n and j >= m:
                return lo + hi + (n + m - d) // 2
    raise AssertionError("unreachable")


def first_mismatches(a: Sequence[Pair], b: Sequence[Pair], few: int = 3) -> list[str]:
    """The first few places where strace's sequence (a) and ours (b) part."""
    import difflib

    out = []
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        theirs = " ".join(f"{n}={r}" for n, r in a[i1 : min(i2, i1 + 3)])
        ours = " ".join(f"{n}={r}" for n, r in b[j1 : min(j2, j1 + 3)])
        out.append(f"#{i1}: strace [{theirs or '-'}] ours [{ours or '-'}]")
        if len(out) == few:
            break
    return out


@dataclass
class Agreement:
    matched: int = 0
    total: int = 0
    strace_calls: int = 0
    our_calls: int = 0
    before_window: int = 0  # strace's threads with no call left in our window
    mismatches: list[str] = field(default_factory=list)
    missing_signals: list[str] = field(default_factory=list)
    strace_signals: int = 0

    @property
    def ratio(self) -> float:
        return self.matched / self.total if self.total else 1.0


def compare(
    theirs: Trace, ours: Trace, *, same_run: bool, head_lost: bool
) -> Agreement:  # fmt: skip
    """The agreement of our trace with strace's (module docstring)."""
    ag = Agreement()
    if same_run:
        pairs = [(tid, tid) for tid in theirs.calls]
    else:
        order = theirs.creation_order()
        pairs = list(zip(order, ours.creation_order(), strict=False))
        pairs += [(tid, -1) for tid in order[len(pairs) :]]
    first = next(iter(theirs.calls), None)
    for their_tid, our_tid in pairs:
        a = theirs.calls[their_tid]
        b = ours.calls.get(our_tid, [])
        start = 0  # strace's signals from then on are expected
        if same_run and their_tid == first and our_tid in ours.execve_at:
            b = b[ours.execve_at[our_tid] :]  # strace's child before it runs PROG
        if head_lost:
            if not b:
                ag.before_window += 1
                continue
            # after the first call kept (one just before it may or may not be)
            start = len(a) - len(b) + 1 if len(a) > len(b) else 0
            a = a[-len(b) :]
        if not same_run:
            a, b = masked(a), masked(b)
        ag.strace_calls += len(a)
        ag.our_calls += len(b)
        common = lcs_length(a, b)
        ag.matched += common
        ag.total += max(len(a), len(b))
        if common < max(len(a), len(b)):
            ag.mismatches += [f"tid {their_tid}: {x}" for x in first_mismatches(a, b)]
        want = Counter((s, c) for s, c, at in theirs.signals.get(their_tid, []) if at >= start)
        got = Counter((s, c) for s, c, _ in ours.signals.get(our_tid, []))
        ag.strace_signals += sum(want.values())
        for (sig, code), n in (want - got).items():
            ag.missing_signals.append(f"tid {their_tid}: {sig} {code} x{n}")
    return ag


# --- running the programs ---------------------------------------------------


def strace_lines(out: Path) -> list[str]:
    """strace's output for `-o OUT`: one file, or with -ff OUT.PID files, each
    line prefixed with its pid as -f writes it (files in pid order: the
    sequences are per thread, so the interleaving does not matter)."""
    if out.exists():
        return out.read_text(errors="replace").splitlines()
    lines = []
    parts = sorted(out.parent.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:]))
    for part in parts:
        pid = part.suffix[1:]
        lines += [f"{pid} {x}" for x in part.read_text(errors="replace").splitlines()]
    return lines


def our_lines(traceloop: str, dump: Path) -> tuple[list[str], bool]:
    """`show -o strace` of the dump, every line of a call or signal given its
    thread as `[pid N]` (show gives it only while more than one thread runs,
    as strace -f does; JSON has one object per such line, in the same order);
    whether the window's head was overwritten."""
    from sidecar.dump.reader import read_all

    header, _ = read_all(dump.read_bytes(), str(dump))
    lines = subprocess.run(
        [traceloop, "show", "-o", "strace", str(dump)], capture_output=True, text=True, check=True
    ).stdout.splitlines()  # fmt: skip
    js = subprocess.run(
        [traceloop, "show", "-o", "json", str(dump)], capture_output=True, text=True, check=True
    ).stdout.splitlines()  # fmt: skip
    tids = iter(json.loads(x)["tid"] for x in js)
    out = []
    for line in lines:
        body = PREFIX.sub("", line)
        if body.startswith(("+++ ", "<... ")):  # a trigger; an exec's return in the leader
            out.append(line)
        else:
            out.append(f"[pid {next(tids)}] {body}")
    return out, bool(header.get("counts", {}).get("overwritten", 0))
