"""show's strace form against strace itself, for the same program's calls.

tests/data/calls.c makes a fixed set of calls (open flags and modes, access
modes, mmap prot/flags, sockets and sockaddrs, fcntl and ioctl requests,
signals, clone flags, errors). It runs once under strace and once under
`traceloop record`; the lines of the calls both can render in full must match
(pointers and the random port aside). Skipped where strace is missing, which
fails the run under `make test` and in CI (conftest.py).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from showutil import DATA, TRACELOOP, compile_c, record

pytestmark = pytest.mark.bpf

# Calls whose every argument both render (no struct strace reads and we do not).
COMPARED = {
    "openat", "access", "faccessat", "mmap", "mprotect", "munmap", "socket", "connect", "bind",
    "sendto", "write", "fcntl", "ioctl", "kill", "tgkill", "lseek", "dup3", "clone", "wait4",
    "exit_group", "newfstatat", "pipe2", "socketpair", "rt_sigaction", "rt_sigprocmask",
    "nanosleep", "clock_nanosleep", "prlimit64", "mknodat", "statx",
    # structures (tests/data/calls.c's structures())
    "poll", "ppoll", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "read",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "setsockopt", "getsockopt",
    "sendmsg", "recvmsg", "setitimer", "getitimer", "timerfd_create", "timerfd_settime",
    "timerfd_gettime", "sigaltstack", "rt_sigpending", "rt_sigtimedwait", "uname", "sysinfo",
    "utimensat", "futex", "getcwd", "mremap", "clone3", "getdents64", "rt_sigreturn",
    "execve", "waitid", "select", "pselect6",
}  # fmt: skip
# Values that differ between two runs of the same calls: what is left of a
# timer or timeout, resource usage, the system's counters.
VARYING = {
    "getitimer": r"tv_usec=\d+", "timerfd_gettime": r"tv_nsec=\d+", "sysinfo": r"(?<=[=\[ ])\d+(?=[,\]}])",
    "wait4": r"(?<=ru_.time=)\{[^}]*\}",
}  # fmt: skip
START = 'openat(AT_FDCWD, "/nonexistent/traceloop"'  # after libc's start-up, which differs


def normalise(line: str) -> str:
    line = re.sub(r"^\[pid +\d+\] ", "", line)
    line = re.sub(r"\) +=", ") =", line)  # strace's alignment
    line = re.sub(r"0x[0-9a-f]{5,}", "0xADDR", line)  # addresses differ between runs
    line = re.sub(r"htons\(\d+\)", "htons(PORT)", line)  # a fresh closed port each run
    # ppoll, select, pselect6: the time left
    line = re.sub(r", left \{tv_sec=\d+, tv_[un]sec=\d+\}\)$", ")", line)
    line = re.sub(r" \(left \{tv_sec=\d+, tv_[un]sec=\d+\}\)$", "", line)
    line = re.sub(r"cmsg_data=\{pid=\d+", "cmsg_data={pid=PID", line)  # SCM_CREDENTIALS
    name = line.split("(", 1)[0]
    if name in VARYING:
        line = re.sub(VARYING[name], "N", line)
    if name == "kill":  # the program signals itself, and its child
        line = re.sub(r"^kill\(\d+,", "kill(PID,", line)
    if name in ("waitid", "rt_sigtimedwait"):  # the sender, the child
        line = re.sub(r"si_pid=\d+", "si_pid=PID", line)
        line = re.sub(r"^waitid\(P_PID, \d+", "waitid(P_PID, PID", line)
    if name in ("clone", "clone3", "wait4"):  # the child's pid
        line = re.sub(r"= \d+$", "= PID", line)
        line = re.sub(r"parent_tid=\[\d+\]", "parent_tid=[PID]", line)
        line = re.sub(r"^wait4\(\d+", "wait4(PID", line)
    return line


def calls(lines: list[str]) -> list[str]:
    """The compared calls of the traced process (strace ran without -f: not its child)."""
    children = {m.group(1) for m in (re.search(r"clone3?\(.*\) += (\d+)$", x) for x in lines) if m}
    out: list[str] = []
    started = False
    for raw in lines:
        pid = re.match(r"\[pid +(\d+)\] ", raw)
        if pid and pid.group(1) in children:
            continue
        line = normalise(raw)
        started = started or line.startswith(START)
        # pthread_join waits on a futex only when the thread has not ended yet
        joined = "FUTEX_WAIT_BITSET" in line
        if started and line.split("(", 1)[0] in COMPARED and not joined:
            out.append(line)
    return out


def test_same_lines_as_strace(strace: str, tmp_path: Path) -> None:
    exe = compile_c(DATA / "calls.c", tmp_path / "calls")
    work = tmp_path / "work"
    work.mkdir()
    theirs = tmp_path / "strace.out"
    subprocess.run([strace, "-o", str(theirs), "--", str(exe), str(work)], timeout=60)
    dump = record([str(exe), str(work)], tmp_path / "dumps")
    ours = subprocess.run([TRACELOOP, "show", "-o", "strace", str(dump)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    expected = calls(theirs.read_text().splitlines())
    got = calls(ours.splitlines())
    assert len(expected) > 140  # 149 lines on Debian 12 (strace 6.1, glibc 2.36)
    assert got == expected
    # JSON has no comment for execve's `/* N vars */`: its envp_vars says it
    theirs_vars = [int(m.group(1)) for m in (re.search(r"/\* (\d+) vars \*/", x)
                   for x in expected if x.startswith("execve(")) if m]  # fmt: skip
    js = subprocess.run([TRACELOOP, "show", "-o", "json", "-e", "trace=execve", str(dump)],
                        capture_output=True, text=True, check=True).stdout  # fmt: skip
    # (signals stay in a trace= view, as strace's do: they are not calls)
    execs = [o for o in map(json.loads, js.splitlines()) if "syscall" in o]
    ours_vars = [o.get("envp_vars") for o in execs]
    assert theirs_vars == [2]  # calls.c's execve with two variables
    assert ours_vars[-len(theirs_vars) :] == theirs_vars
