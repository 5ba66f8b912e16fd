"""Signal deliveries recorded in the window, against strace's own lines.

tests/progs/signals.c: a thread that segfaults, a process another one kills
with SIGTERM, a parent that takes a SIGCHLD in a handler, and a SIGSEGV sent
with kill(). Each runs under strace and, separately, under `traceloop
record`; the `--- SIG... ---` lines must be strace's, the `+++ killed by`
line must name the thread that took the signal, and the fatal-signal
trigger must carry that thread, si_code and the fault address.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from perfettoutil import load_trace
from showutil import TRACELOOP
from test_perfetto import check_every_call

from sidecar.dump.reader import read_all

pytestmark = pytest.mark.bpf


def show(dump: Path, *args: str) -> list[str]:
    res = subprocess.run(
        [TRACELOOP, "show", *args, str(dump)], capture_output=True, text=True, check=True
    )
    return res.stdout.splitlines()


def signal_lines(lines: list[str]) -> list[str]:
    """`--- SIG ---` lines without strace's `-f` pid column or our `[pid N]` prefix."""
    out = []
    for line in lines:
        line = re.sub(r"^(\[pid +\d+\] |\d+ +)", "", line)
        if line.startswith("--- SIG"):
            out.append(line)
    return out


def under_strace(strace: str, tmp: Path, *cmd: str) -> list[str]:
    out = tmp / "strace.out"
    subprocess.run([strace, "-f", "-o", str(out), "--", *cmd], capture_output=True, timeout=60)
    return out.read_text().splitlines()


def recorded(tmp: Path, *cmd: str) -> Path:
    d = tmp / "dumps"
    subprocess.run(
        [TRACELOOP, "record", "-q", "--always", "--out", str(d), "--", *cmd],
        capture_output=True, timeout=120,
    )  # fmt: skip
    [dump] = sorted(d.rglob("*.msgpack"))
    return dump


def header(dump: Path) -> dict[str, Any]:
    return read_all(dump.read_bytes(), str(dump))[0]


def test_a_segfaulting_thread(strace: str, progs: Path, tmp_path: Path) -> None:
    prog = str(progs / "signals")
    theirs = signal_lines(under_strace(strace, tmp_path, prog, "thread-segv"))
    dump = recorded(tmp_path, prog, "thread-segv")
    lines = show(dump, "-o", "strace")
    assert signal_lines(lines) == theirs
    assert theirs == ["--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"]
    [trigger] = header(dump)["triggers"]
    tid = trigger["tid"]
    assert tid != trigger["pid"]  # the second thread, not the leader
    assert trigger["si_code"] == "SEGV_MAPERR" and trigger["si_addr"] == 0
    # strace names the thread: its `--- SIGSEGV` and `+++ killed by` lines.
    assert f"[pid {tid:5}] --- SIGSEGV" in "\n".join(lines)
    assert lines[-1] == f"[pid {tid:5}] +++ killed by SIGSEGV +++"
    info = "\n".join(show(dump, "--info"))
    assert f"tid {tid}" in info and "si_code SEGV_MAPERR, si_addr NULL" in info
    # The timeline: every call a slice, the delivery an instant on the thread's track.
    trace = load_trace("\n".join(show(dump, "-o", "perfetto")))
    check_every_call(trace, *read_all(dump.read_bytes(), str(dump)))
    [segv] = [e for e in trace["traceEvents"] if e.get("cat", "").startswith("signal")]
    assert (segv["name"], segv["tid"]) == ("SIGSEGV", tid)
    assert segv["args"]["siginfo"]["si_code"] == "SEGV_MAPERR"


def test_a_segv_sent_with_kill_is_not_a_fault(strace: str, progs: Path, tmp_path: Path) -> None:
    prog = str(progs / "signals")
    theirs = signal_lines(under_strace(strace, tmp_path, prog, "kill-segv"))
    dump = recorded(tmp_path, prog, "kill-segv")
    [trigger] = header(dump)["triggers"]
    assert trigger["signal"] == "SIGSEGV" and trigger["si_code"] == "SI_USER"
    assert trigger["si_pid"] == trigger["pid"] and "si_addr" not in trigger
    ours = signal_lines(show(dump, "-o", "strace"))
    # The sender is the process itself: its pid differs between the runs.
    assert [re.sub(r"si_pid=\d+", "si_pid=N", x) for x in ours] == [
        re.sub(r"si_pid=\d+", "si_pid=N", x) for x in theirs
    ]
    assert ours == [
        f"--- SIGSEGV {{si_signo=SIGSEGV, si_code=SI_USER, si_pid={trigger['pid']}, si_uid=0}} ---"
    ]


def run_killed(cmd: list[str], sig: signal.Signals = signal.SIGTERM) -> int:
    """Run `cmd` (ending in signals wait-term), send the program `sig` from
    this process once it is ready; its pid."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        pid = int(ready[1])
        os.kill(pid, sig)
        proc.wait(60)
        return pid
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_killed_by_sigterm_from_another_process(strace: str, progs: Path, tmp_path: Path) -> None:
    prog = str(progs / "signals")
    out = tmp_path / "strace.out"
    run_killed([strace, "-f", "-o", str(out), "--", prog, "wait-term"])
    theirs = signal_lines(out.read_text().splitlines())
    d = tmp_path / "dumps"
    pid = run_killed([TRACELOOP, "record", "-q", "--always", "--out", str(d), "--", prog,
                      "wait-term"])  # fmt: skip
    [dump] = sorted(d.rglob("*.msgpack"))
    me = os.getpid()
    expected = f"--- SIGTERM {{si_signo=SIGTERM, si_code=SI_USER, si_pid={me}, si_uid=0}} ---"
    assert theirs == [expected]
    lines = show(dump, "-o", "strace")
    assert signal_lines(lines) == [expected]
    assert lines[-1] == "+++ killed by SIGTERM +++"
    [trigger] = header(dump)["triggers"]
    assert trigger == {**trigger, "reason": "fatal-signal", "signal": "SIGTERM",
                       "si_code": "SI_USER", "si_pid": me, "tid": pid}  # fmt: skip


def test_sigchld_taken_by_a_handler(strace: str, progs: Path, tmp_path: Path) -> None:
    prog = str(progs / "signals")
    theirs = signal_lines(under_strace(strace, tmp_path, prog, "sigchld"))
    dump = recorded(tmp_path, prog, "sigchld")
    ours = signal_lines(show(dump, "-o", "strace"))

    def child(x: str) -> str:
        return re.sub(r"si_pid=\d+", "si_pid=CHILD", x)

    assert [child(x) for x in ours] == [child(x) for x in theirs]
    assert child(ours[0]) == (
        "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=CHILD, si_uid=0, "
        "si_status=0, si_utime=0, si_stime=0} ---"
    )
    # In order with the calls: the child's end interrupts the parent's wait.
    lines = show(dump, "-o", "strace")
    at = next(i for i, x in enumerate(lines) if "--- SIGCHLD" in x)
    assert "wait4(" in "\n".join(lines[:at]) and "rt_sigreturn(" in lines[at + 1]
    # JSON: an object of its own; the table: one line.
    [obj] = [json.loads(x) for x in show(dump, "-o", "json") if '"signal"' in x]
    assert obj["signal"] == "SIGCHLD" and "syscall" not in obj
    assert obj["siginfo"] == {**obj["siginfo"], "si_code": "CLD_EXITED", "si_status": 0}
    [row] = [x for x in show(dump, "--wide") if " SIGCHLD " in x]
    assert "si_code=CLD_EXITED" in row and row.endswith("---")


def test_killed_by_sigkill_names_its_sender(progs: Path, tmp_path: Path) -> None:
    d = tmp_path / "dumps"
    pid = run_killed([TRACELOOP, "record", "-q", "--always", "--out", str(d), "--",
                      str(progs / "signals"), "wait-term"], signal.SIGKILL)  # fmt: skip
    [dump] = sorted(d.rglob("*.msgpack"))
    lines = show(dump, "-o", "strace")
    # strace shows no `--- SIGKILL` (a traced process dies without a stop).
    assert signal_lines(lines) == [] and lines[-1] == "+++ killed by SIGKILL +++"
    [trigger] = header(dump)["triggers"]
    assert trigger == {**trigger, "signal": "SIGKILL", "si_code": "SI_USER",
                       "si_pid": os.getpid(), "tid": pid}  # fmt: skip


@pytest.mark.parametrize("mode", ["core-segv", "nocore-segv", "core-abort"])
def test_killed_by_a_signal_says_core_dumped_as_strace_does(
    strace: str, progs: Path, tmp_path: Path, mode: str
) -> None:
    """strace adds ` (core dumped)` when the wait status has WCOREDUMP: only when
    the core file was written (the program raises RLIMIT_CORE, or sets it to 0;
    core_pattern `core` writes it in the cwd)."""
    prog = str(progs / "signals")
    dumps_core = mode.startswith("core-")
    theirs_dir, ours_dir = tmp_path / "strace", tmp_path / "ours"
    theirs_dir.mkdir()
    ours_dir.mkdir()
    out = theirs_dir / "strace.out"
    subprocess.run([strace, "-f", "-o", str(out), "--", prog, mode], cwd=theirs_dir,
                   capture_output=True, timeout=60)  # fmt: skip
    theirs = [x for x in out.read_text().splitlines() if "+++" in x]
    sig = "SIGABRT" if mode == "core-abort" else "SIGSEGV"
    killed = f"+++ killed by {sig}{' (core dumped)' if dumps_core else ''} +++"
    assert [re.sub(r"^\d+ +", "", x) for x in theirs] == [killed]
    d = tmp_path / "dumps"
    subprocess.run([TRACELOOP, "record", "-q", "--always", "--out", str(d), "--", prog, mode],
                   cwd=ours_dir, capture_output=True, timeout=120)  # fmt: skip
    [dump] = sorted(d.rglob("*.msgpack"))
    # The core files say what happened in both runs.
    assert bool(list(theirs_dir.glob("core*"))) == bool(list(ours_dir.glob("core*"))) == dumps_core
    lines = show(dump, "-o", "strace")
    assert lines[-1] == killed
    [trigger] = header(dump)["triggers"]
    assert trigger["core_dumped"] is dumps_core
    [obj] = [json.loads(x) for x in show(dump, "--info", "-o", "json")]
    assert obj["triggers"][0]["core_dumped"] is dumps_core
    assert obj["crash"]["how"] == killed.strip("+ ")
    info = show(dump, "--info")
    [crash] = [x for x in info if x.startswith("crash")]
    assert crash.split(None, 1)[1] == obj["crash"]["how"]


def test_without_btf_a_core_dump_is_not_claimed(progs: Path, tmp_path: Path) -> None:
    """No task walk (a BTF without the task's fields): the kernel side cannot
    read the wait status, so the trigger says nothing of a core, although one
    was written."""
    fake = tmp_path / "not-btf"
    fake.write_bytes(b"not BTF")
    d = tmp_path / "dumps"
    subprocess.run([TRACELOOP, "record", "-q", "--always", "--out", str(d), "--",
                    str(progs / "signals"), "core-segv"], cwd=tmp_path, capture_output=True,
                   timeout=120, env={**os.environ, "TRACELOOP_VMLINUX_BTF": str(fake)})  # fmt: skip
    [dump] = sorted(d.rglob("*.msgpack"))
    assert list(tmp_path.glob("core*"))
    [trigger] = header(dump)["triggers"]
    assert trigger["signal"] == "SIGSEGV" and "core_dumped" not in trigger
    assert show(dump, "-o", "strace")[-1] == "+++ killed by SIGSEGV +++"


def parent_story(events: list[tuple[int, str]], pid: int) -> list[str]:
    """One process's calls and signals, in order, with what it waits for and sends."""
    keep = {"wait4", "kill", "rt_sigaction", "openat"}
    return [x for p, x in events if p == pid and (x in keep or x.startswith("--- SIG"))]


def test_signals_the_process_ignores_are_shown_where_strace_shows_them(
    strace: str, progs: Path, tmp_path: Path
) -> None:
    """The kernel drops a signal that a process ignores when it is sent
    (SIGCHLD and SIGURG by default, SIGUSR1 with SIG_IGN), unless the process
    is traced: strace shows it, and so must the dump, after the same call.
    (A SIGCHLD with SIG_IGN is not even sent: neither shows one.)"""
    prog = str(progs / "signals")
    lines = under_strace(strace, tmp_path, prog, "ignored")
    theirs_events = []
    for line in lines:
        pid, rest = line.split(None, 1)
        if rest.endswith("<unfinished ...>"):
            continue  # counted once, where it is resumed
        m = re.match(r"(?:<\.\.\. )?(\w+)", rest)
        what = rest.split(" {", 1)[0] if rest.startswith("--- SIG") else (m[1] if m else rest)
        theirs_events.append((int(pid), what))
    dump = recorded(tmp_path, prog, "ignored")
    objs = [json.loads(x) for x in show(dump, "-o", "json")]
    ours_events = [
        (o["pid"], o["syscall"] if "syscall" in o else f"--- {o['signal']}") for o in objs
    ]
    story = [
        "wait4", "--- SIGCHLD", "rt_sigaction", "wait4", "kill", "--- SIGURG", "rt_sigaction",
        "kill", "--- SIGUSR1", "openat",
    ]  # fmt: skip
    assert parent_story(theirs_events, theirs_events[0][0]) == story
    assert parent_story(ours_events, ours_events[0][0]) == story

    def pids(x: str) -> str:
        return re.sub(r"si_pid=\d+", "si_pid=N", x)

    ours = signal_lines(show(dump, "-o", "strace"))
    assert [pids(x) for x in ours] == [pids(x) for x in signal_lines(lines)]
    assert pids(ours[0]) == (
        "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=N, si_uid=0, "
        "si_status=3, si_utime=0, si_stime=0} ---"
    )
    # The sender of SIGURG is the process itself; the child of the SIGCHLD its own.
    me = objs[0]["pid"]
    assert ours[1] == f"--- SIGURG {{si_signo=SIGURG, si_code=SI_USER, si_pid={me}, si_uid=0}} ---"
    children = [o["pid"] for o in objs if o["pid"] != me and o.get("syscall") == "exit_group"]
    assert f"si_pid={children[0]}," in ours[0]
