"""strace's own options on `show -o strace`, against strace itself.

tests/data/calls.c runs under strace and under `traceloop record`, separately:
the times differ, so each time field is checked by its shape (a regex per
option) and then taken out, and the rest of each line must be strace's, as in
test_decode_strace. `-e trace=` keeps the same syscalls as strace's for the
same expression, and the table through a pipe keeps a long path whole.
Skipped where strace is missing, which fails the run under `make test`.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from showutil import DATA, TRACELOOP, compile_c, record
from test_decode_strace import calls

pytestmark = pytest.mark.bpf

# strace's leader for each option set, after any `[pid N] ` (strace.c printleader).
LEADERS = {
    ("-t",): r"\d\d:\d\d:\d\d ",
    ("-tt",): r"\d\d:\d\d:\d\d\.\d{6} ",
    ("-ttt",): r"\d{10}\.\d{6} ",
    ("-r",): r" *\d+\.\d{6} ",
    ("-T",): "",
    ("-tt", "-T"): r"\d\d:\d\d:\d\d\.\d{6} ",
    ("-t", "-r"): r"\d\d:\d\d:\d\d \(\+ *\d+\.\d{6}\) ",
    ("-ttt", "-r", "-T"): r"\d{10}\.\d{6} \(\+ *\d+\.\d{6}\) ",
    ("-s", "3"): "",
}
ELAPSED = re.compile(r" <\d+\.\d{6}>$")
NAME = re.compile(r"^(?:\[pid +\d+\] )?([a-z_0-9]+)\(")
# x86_64: the kernel's (tracefs's) names that strace writes otherwise
STRACE_NAME = {"newfstat": "fstat", "newstat": "stat", "newlstat": "lstat",
               "newuname": "uname", "sendfile64": "sendfile", "umount": "umount2"}  # fmt: skip


@pytest.fixture(scope="module")
def prog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float, float]:
    """calls.c, and its run recorded by traceloop (with the wall clock around it)."""
    d = tmp_path_factory.mktemp("calls")
    exe = compile_c(DATA / "calls.c", d / "calls")
    work = d / "work"
    work.mkdir()
    before = time.time()
    dump = record([str(exe), str(work)], d / "dumps")
    after = time.time()
    return exe, dump, before, after


def ours(dump: Path, *opts: str) -> list[str]:
    return subprocess.run(
        [TRACELOOP, "show", "-o", "strace", *opts, str(dump)],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip


def theirs(strace: str, exe: Path, tmp: Path, *opts: str) -> list[str]:
    """strace's lines for calls.c, run in the same (emptied) directory as the
    recorded run: the paths in both are the same."""
    out = tmp / "strace.out"
    work = exe.parent / "work"
    shutil.rmtree(work)
    work.mkdir()
    subprocess.run([strace, *opts, "-o", str(out), "--", str(exe), str(work)], timeout=60)
    return out.read_text().splitlines()


def untimed(lines: list[str], leader: str, elapsed: bool) -> list[str]:
    """The lines with their time fields checked and taken out."""
    out = []
    lead = re.compile(r"^(\[pid +\d+\] )?" + leader)
    for line in lines:
        m = lead.match(line)
        assert m, (leader, line)
        line = (m.group(1) or "") + line[m.end() :]
        complete = NAME.match(line) and not re.search(r"= \?$|<unfinished \.\.\.>$", line)
        if elapsed and complete:
            assert ELAPSED.search(line), line
            line = ELAPSED.sub("", line)
        out.append(line)
    return out


@pytest.mark.parametrize("opts", list(LEADERS), ids=" ".join)
def test_time_and_string_options_as_strace(
    strace: str, prog: tuple[Path, Path, float, float], tmp_path: Path, opts: tuple[str, ...]
) -> None:
    exe, dump, _, _ = prog
    elapsed = "-T" in opts
    expected = calls(untimed(theirs(strace, exe, tmp_path, *opts), LEADERS[opts], elapsed))
    got = calls(untimed(ours(dump, *opts), LEADERS[opts], elapsed))
    assert len(expected) > 35
    assert got == expected


def test_wall_clock_is_when_it_ran(prog: tuple[Path, Path, float, float]) -> None:
    _, dump, before, after = prog
    stamps = [float(re.sub(r"^\[pid +\d+\] ", "", x).split()[0]) for x in ours(dump, "-ttt")]
    assert len(stamps) > 50
    assert before <= min(stamps) and max(stamps) <= after, (before, min(stamps), max(stamps), after)


def names(lines: list[str]) -> set[str]:
    """The syscalls named by strace lines (strace -f -o prefixes them with `PID `)."""
    found = {m.group(1) for m in (NAME.match(re.sub(r"^\d+ +", "", x)) for x in lines) if m}
    return {STRACE_NAME.get(n, n) for n in found}


EXPRS = ["%file", "%process", "%network", "%net", "%signal", "%desc", "%memory", "%creds",
         "%clock", "%stat", "%lstat", "%fstat", "%%stat", "%statfs", "%pure", "!%file",
         "!%desc,%memory", "openat,close", "!openat,close", "/^(open|read)", "/stat",
         "%ipc"]  # fmt: skip


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """tests/data/classes.c (the classes calls.c has no call of), recorded."""
    d = tmp_path_factory.mktemp("classes")
    exe = compile_c(DATA / "classes.c", d / "classes")
    (d / "work").mkdir()
    return exe, record([str(exe)], d / "dumps")


def test_trace_keeps_the_syscalls_strace_keeps(
    strace: str, prog: tuple[Path, Path, float, float], classes: tuple[Path, Path],
    tmp_path: Path,
) -> None:  # fmt: skip
    selected: set[str] = set()
    for exe, dump in (prog[:2], classes):
        # The calls both saw (strace's own start-up and the recorder's window
        # may each have a few the other lacks).
        common = names(theirs(strace, exe, tmp_path, "-f")) & names(ours(dump))
        assert len(common) > 20
        for expr in EXPRS:
            want = names(theirs(strace, exe, tmp_path, "-f", "-e", f"trace={expr}")) & common
            got = names(ours(dump, "-e", f"trace={expr}")) & common
            assert got == want, (exe.name, expr, sorted(got - want), sorted(want - got))
            if want and want != common:
                selected.add(expr)
    assert selected == set(EXPRS)  # each picked some calls, not all, in one program or both


LONG = "/nonexistent/" + "d" * 180 + "/app.conf"


@pytest.fixture(scope="module")
def long_path_dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record(["/bin/cat", LONG], tmp_path_factory.mktemp("long"))


def test_table_through_a_pipe_keeps_a_long_path(long_path_dump: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = subprocess.run(
        [TRACELOOP, "show", "--syscall-filters", "openat", str(long_path_dump)],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    row = next(line for line in out.splitlines() if "nonexistent" in line)
    assert f'"{LONG}"' in row and row.endswith("ENOENT (No such file or directory)"), row


def test_table_on_a_terminal_fits_it(long_path_dump: Path) -> None:
    """The same row on a 140-column terminal is cut to fit (so the pipe test can tell)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    master, slave = pty.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
        p = subprocess.run(
            [TRACELOOP, "show", "--color", "never", "--syscall-filters", "openat",
             str(long_path_dump)],
            stdout=slave, stderr=subprocess.PIPE, env=env, timeout=60,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    rows = out.decode().replace("\r\n", "\n").splitlines()
    row = next(line for line in rows if "nonexistent" in line)
    assert len(row) <= 140 and LONG not in row and "…" in row, row


def by_process(lines: list[str], start: str) -> dict[int, list[tuple[str, bool]]]:
    """Each process's calls as (name, has `[pid N]`), in order: the first
    process as 0, its children 1, 2... in the order they were forked. A line
    without the prefix is the one process left (the first, in calls.c).
    strace's `<... resumed>` halves are left out (ours: one line per call, at
    its entry, where strace's first half is). So are the first process's calls
    from a fork to its wait4: whether the child has ended by then is a race
    between the two (strace, slowing both, makes it rarer), not a rule."""
    kids: list[int] = []
    for x in lines:
        m = re.search(r"(?:clone3?|vfork)\(.*\) += (\d+)$|Process (\d+) attached", x)
        kid = int(m.group(1) or m.group(2)) if m else None
        if kid is not None and kid not in kids:
            kids.append(kid)
    out: dict[int, list[tuple[str, bool]]] = {}
    started = racing = False
    for x in lines:
        started = started or start in x
        m = re.match(r"^(\[pid +(\d+)\] )?([a-z_0-9]+)\(", x)
        if not (started and m):
            continue
        pid = int(m.group(2)) if m.group(2) else None
        role = kids.index(pid) + 1 if pid in kids else 0
        name = m.group(3)
        if role == 0:
            if racing:
                racing = name != "wait4"
                continue
            racing = name in ("clone", "clone3", "vfork")
        out.setdefault(role, []).append((name, bool(m.group(1))))
    return out


def test_pid_prefixes_as_strace_f(
    strace: str, prog: tuple[Path, Path, float, float], tmp_path: Path
) -> None:
    """strace -f prefixes a line with `[pid N]` while it traces more than one
    process; ours has the prefix on the same calls of the same processes
    (calls.c forks three children and waits for each)."""
    exe, dump, _, _ = prog
    work = exe.parent / "work"
    shutil.rmtree(work)
    work.mkdir()
    err = tmp_path / "strace.err"  # on stderr, as a user sees it (-o writes `PID ` instead)
    with err.open("w") as f:
        subprocess.run([strace, "-f", "--", str(exe), str(work)], stderr=f,
                       stdout=subprocess.DEVNULL, timeout=60)  # fmt: skip
    start = 'openat(AT_FDCWD, "/nonexistent/traceloop"'  # after libc's start-up
    theirs_ = by_process(err.read_text().splitlines(), start)
    assert len(theirs_) >= 4  # the first process and the children and threads it starts
    # Children's lines have the prefix, the parent's after the last wait4 not.
    assert all(p for role in theirs_ if role for _, p in theirs_[role])
    assert theirs_[0][-1] == ("exit_group", False)
    got = by_process(ours(dump), start)
    assert got == theirs_
