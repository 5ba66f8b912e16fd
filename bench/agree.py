"""Agreement of traceloop's recording with strace, per program (issue 14).

    sudo .venv/bin/python bench/agree.py [--same-run | --separate] [PROG...]

PROG names programs of bench/agree/ (threads_segv, sockets, pipes_abort,
sigs_eintr, fs_errnos, many_calls, spawn_exec, chain, uncaught; default all).

--same-run (default): `traceloop record --always -- strace -f -o OUT -- PROG`,
one run seen by both. Our view is restricted to the threads strace names
(strace's own process is not compared), and for the first of them, strace's
child, to our calls from its execve of PROG on.
--separate: `traceloop record --always -- PROG` and `strace -f -o OUT -- PROG`,
two runs, threads paired by order of first appearance, run-dependent values
(hex addresses, pids) masked.

For each program the table gives strace's call count, ours, and the agreement:
per thread the longest common subsequence of the (syscall name, result)
sequences, summed, over the sum of the longer of the two lengths (see
tests/agreeutil.py for what a result is and how the window is handled). The
column `strace/strace` is the same measure between two runs of strace alone
(as --separate compares): how much the program itself varies between runs.
`signals` counts strace's `--- SIG` lines and those we lack (same signal and
si_code in the same thread). The first few mismatches follow the table.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from agreeutil import Agreement, compare, our_lines, parse, strace_lines  # noqa: E402

PROGS = ROOT / "bench" / "agree"
TRACELOOP = str(ROOT / ".venv" / "bin" / "traceloop")
C_PROGS = ("threads_segv", "sockets", "pipes_abort", "sigs_eintr", "fs_errnos", "many_calls",
           "spawn_exec")  # fmt: skip
ALL = (*C_PROGS, "chain", "uncaught")
# Kept calls per recorded container: enough for strace's own calls beside the
# program's (same run), except for many_calls, whose point is a lost head.
SLOTS = {"many_calls": 4096}
DEFAULT_SLOTS = 65536


@dataclass
class Row:
    name: str
    ag: Agreement
    baseline: Agreement


def build(name: str, work: Path) -> list[str]:
    """The command that runs program `name` (C programs compiled as the tests do)."""
    if name in C_PROGS:
        exe = work / name
        if not exe.exists():
            subprocess.run(
                ["gcc", "-O1", "-static", "-pthread", "-o", str(exe), str(PROGS / f"{name}.c")],
                check=True,
            )  # fmt: skip
        if name == "fs_errnos":
            scratch = work / "scratch"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            return [str(exe), str(scratch)]
        return [str(exe)]
    if name == "chain":
        return ["/bin/sh", str(PROGS / "chain.sh")]
    if name == "uncaught":
        return ["/usr/bin/python3", str(PROGS / "uncaught.py")]
    raise SystemExit(f"agree.py: no program {name!r} (one of {', '.join(ALL)})")


def record(cmd: list[str], out: Path, slots: int) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(
        [TRACELOOP, "record", "-q", "--always", "--slots", str(slots), "--out", str(out),
         "--", *cmd],
        capture_output=True, timeout=300,
    )  # fmt: skip
    dumps = sorted(out.rglob("*.msgpack"))
    if len(dumps) != 1:
        raise SystemExit(f"agree.py: {len(dumps)} dumps for {cmd}")
    return dumps[0]


def strace_cmd(opts: list[str], out: Path, cmd: list[str]) -> list[str]:
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    return ["strace", *opts, "-o", str(out), "--", *cmd]


def run_strace(opts: list[str], out: Path, cmd: list[str]) -> list[str]:
    subprocess.run(strace_cmd(opts, out, cmd), capture_output=True, timeout=300)
    return strace_lines(out)


def measure(name: str, work: Path, same_run: bool, opts: list[str], slots: int | None) -> Row:
    slots = slots or SLOTS.get(name, DEFAULT_SLOTS)
    out = work / f"{name}.strace"
    if same_run:
        cmd = build(name, work)
        dump = record(strace_cmd(opts, out, cmd), work / "dumps", slots)
        theirs = strace_lines(out)
    else:
        theirs = run_strace(opts, out, build(name, work))
        dump = record(build(name, work), work / "dumps", slots)
    lines, head_lost = our_lines(TRACELOOP, dump)
    ag = compare(parse(theirs), parse(lines), same_run=same_run, head_lost=head_lost)
    again = run_strace(opts, work / f"{name}.strace2", build(name, work))
    base = compare(parse(theirs), parse(again), same_run=False, head_lost=False)
    return Row(name, ag, base)


def table(rows: list[Row], same_run: bool, opts: list[str]) -> str:
    mode = "same run" if same_run else "separate runs"
    out = [f"agreement with strace {' '.join(opts)} ({mode})", ""]
    out.append(f"{'program':14} {'strace':>7} {'ours':>7} {'agreement':>9} "
               f"{'strace/strace':>13}  signals (strace, ours lack)  left out")  # fmt: skip
    for r in rows:
        a = r.ag
        left = f"{a.before_window} threads before the window" if a.before_window else ""
        out.append(
            f"{r.name:14} {a.strace_calls:7} {a.our_calls:7} {a.ratio:9.4f} "
            f"{r.baseline.ratio:13.4f}  {a.strace_signals:7} {len(a.missing_signals):5}"
            f"{'':17}{left}"
        )
    for r in rows:
        if r.ag.mismatches or r.ag.missing_signals or r.baseline.mismatches:
            out += ["", f"{r.name}:"]
            out += [f"  {m}" for m in r.ag.mismatches[:6]]
            out += [f"  signal missing: {m}" for m in r.ag.missing_signals]
            out += [f"  strace/strace: {m}" for m in r.baseline.mismatches[:3]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--same-run", action="store_true", default=True)
    mode.add_argument("--separate", action="store_true")
    p.add_argument("--strace-opts", default="-f", help="strace's options (default -f; -ff)")
    p.add_argument(
        "--slots", type=int, help="record's --slots for every program (default 65536; "
        "many_calls 4096, its point being a lost head)",
    )  # fmt: skip
    p.add_argument("progs", nargs="*", metavar="PROG")
    args = p.parse_args(argv)
    same_run = not args.separate
    opts = args.strace_opts.split()
    names = args.progs or list(ALL)
    for n in names:
        if n not in ALL:
            p.error(f"no program {n!r} (one of {', '.join(ALL)})")
    with tempfile.TemporaryDirectory(prefix="agree-") as tmp:
        rows = [measure(n, Path(tmp), same_run, opts, args.slots) for n in names]
    print(table(rows, same_run, opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
