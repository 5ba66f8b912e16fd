"""The daemon with real runc containers: each kernel trigger, incidents, manual dumps."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bpfutil import table
from daemonutil import TRACELOOP, daemon, read, wait_logged, wait_recorded
from runc import Runc
from waits import wait_until

from sidecar.dump.records import ARGS, CAPS, NR, SIGNAL

pytestmark = pytest.mark.bpf
WRITTEN = 'traceloop_dumps_total{result="written"}'
LIMITED = 'traceloop_incidents_rate_limited_total{scope="container"}'


def reasons(header: dict[str, Any]) -> list[str]:
    return [t["reason"] for t in header["triggers"]]


def syscalls(recs: list[list[Any]]) -> list[str]:
    return [table().name(r[NR]) for r in recs]


def paths(recs: list[list[Any]]) -> set[bytes]:
    return {c[2] for r in recs for c in r[CAPS]}


def triggers_counted(m: dict[str, float]) -> float:
    return sum(v for k, v in m.items() if k.startswith("traceloop_triggers_total{"))


def test_nonzero_exit_gives_one_dump_from_execve_on(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        res = runc.run(["/bin/sh", "-c", "cat /etc/hostname /missing; exit 5"], name="exit5")
        assert res.returncode == 5
        [dump] = d.wait_dumps(1)
        m = d.wait_counted(1, WRITTEN)
    header, recs = read(dump)
    # One dump, and every trigger the daemon counted is in it: none was left
    # over to start a second incident for the same crash.
    assert m[WRITTEN] == 1 and d.dumps() == [dump]
    assert triggers_counted(m) == len(header["triggers"])
    assert reasons(header)[0] == "nonzero-exit" and "container-exit" in reasons(header)
    assert header["triggers"][0]["exit_code"] == 5 and header["triggers"][0]["comm"] == "sh"
    assert header["container"]["name"] == "exit5" and header["container"]["exit_code"] == 5
    assert "exit5" in str(dump.parent) and "nonzero-exit" in dump.name
    assert (dump.stat().st_mode & 0o777) == 0o600
    n = syscalls(recs)
    execs = [r for r in recs if table().name(r[NR]) == "execve"]
    assert any(c[2] == b"/bin/sh" for r in execs for c in r[CAPS])
    assert b"/missing" in paths(recs)
    last = max(i for i, r in enumerate(recs) if n[i] == "exit_group" and r[ARGS][0] == 5)
    assert last >= len(recs) - 5


def test_a_syscall_filter_without_exit_group_keeps_the_exit_trigger(
    runc: Runc, tmp_path: Path
) -> None:
    # The filter decides what is recorded, never what the triggers see.
    filters = ("--syscall-filters", "openat")
    with daemon(runc.cgroup_root(), tmp_path / "dumps", *filters) as d:
        res = runc.run(["/bin/sh", "-c", "cat /missing-filtered; exit 3"], name="filtered")
        assert res.returncode == 3
        [dump] = d.wait_dumps(1)
    header, recs = read(dump)
    assert reasons(header)[0] == "nonzero-exit" and header["triggers"][0]["exit_code"] == 3
    calls = [r for r in recs if r[NR] != SIGNAL]  # sh's SIGCHLD is recorded too
    assert set(syscalls(calls)) <= {"openat", "exit", "exit_group"}
    assert b"/missing-filtered" in paths(recs)
    last = recs[-1]
    assert syscalls([last]) == ["exit_group"] and last[ARGS][0] == 3


def test_sigsegv_is_a_fatal_signal(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        res = runc.run(["/bin/segv"], name="segv")
        assert res.returncode == 139
        [dump] = d.wait_dumps(1)
    header, recs = read(dump)
    first = header["triggers"][0]
    assert first["reason"] == "fatal-signal" and first["signal"] == "SIGSEGV"
    assert b"/traceloop/about-to-crash" in paths(recs)
    assert header["container"]["exit_code"] == 139


def test_a_fatal_signal_trigger_says_whether_a_core_was_dumped(runc: Runc, tmp_path: Path) -> None:
    """The core is written after the delivery that fires the trigger: the dump
    waits for the process's end, which tells (the wait status's WCOREDUMP)."""
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        # /dev/shm: the one writable directory of the container, for the core.
        for mode in ("core-segv", "nocore-segv"):
            res = runc.run(["/bin/sh", "-c", f"cd /dev/shm && exec /bin/signals {mode}"],
                           name=mode)  # fmt: skip
            assert res.returncode == 139
        dumps = d.wait_dumps(2)
    got = {}
    for dump in dumps:
        header, _ = read(dump)
        first = header["triggers"][0]
        assert first["reason"] == "fatal-signal" and first["signal"] == "SIGSEGV"
        got[header["container"]["name"]] = first["core_dumped"]
    assert got == {"core-segv": True, "nocore-segv": False}


def test_oom_kill_blames_the_container(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        res = runc.run(["/bin/hog"], name="hog", memory=24 << 20)
        assert res.returncode == 137
        [dump] = d.wait_dumps(1)
    header, recs = read(dump)
    assert reasons(header)[0] == "oom-kill"
    assert header["triggers"][0]["signal"] == "SIGKILL"
    assert b"/traceloop/allocating" in paths(recs)
    assert "mmap" in syscalls(recs) or "brk" in syscalls(recs)


def test_sigkill_from_outside(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        name, proc = runc.start(
            ["/bin/sh", "-c", "cat /marker-before-kill; exec sleep 1000"], "victim"
        )
        wait_recorded(d, name)
        runc.wait_for_program(name, "sleep")  # the cat is done
        # Kept on purpose: the daemon takes the latest exit not caused by SIGKILL
        # within 250 ms of the end for the main process's (triggers/kernel.py
        # main_exit), so a kill closer to cat's failed exit reports that instead.
        time.sleep(0.5)
        runc.kill(name, "KILL")
        proc.wait(10)
        [dump] = d.wait_dumps(1)
    header, recs = read(dump)
    assert header["triggers"][0] == {
        **header["triggers"][0],
        "reason": "fatal-signal",
        "signal": "SIGKILL",
    }
    assert b"/marker-before-kill" in paths(recs)


def test_exit_zero_writes_nothing_by_default(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        # A child fails (cat), the container ends fine: not a crash.
        assert runc.run(["/bin/sh", "-c", "cat /missing; exit 0"], name="fine").returncode == 0
        # The daemon judges a container's exits when it has ended: no trigger
        # then means no incident, so no dump can follow.
        wait_logged(d, "container exited", "fine")
        d.settled()
        m = d.metrics()
        assert triggers_counted(m) == 0
        assert d.dumps() == []
        # It ended: no longer recorded, its window kept for late triggers.
        assert m["traceloop_containers_recorded"] == 0 and m["traceloop_containers_kept"] == 1


def test_dump_on_exit_dumps_a_clean_exit(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--dump-on-exit") as d:
        assert runc.run(["/bin/sh", "-c", "echo bye"], name="clean").returncode == 0
        [dump] = d.wait_dumps(1)
    header, _ = read(dump)
    assert reasons(header) == ["container-exit"]
    assert header["triggers"][0]["exit_code"] == 0


def test_crash_loop_is_rate_limited_and_counted(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--rate-limit", "2") as d:
        for _ in range(6):
            assert runc.run(["/bin/sh", "-c", "exit 9"], name="looper").returncode == 9
        # Each of the six crashes is either dumped or rate-limited.
        m = d.wait_counted(6, WRITTEN, LIMITED, timeout=30)
        dumps = d.dumps()
    assert len(dumps) == 2
    assert m[LIMITED] == 4
    assert m[WRITTEN] == 2


def test_manual_dump_over_the_socket_and_sigusr1(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        name, proc = runc.start(
            ["/bin/sh", "-c", "while true; do cat /alive-marker; sleep 0.2; done"], "live"
        )
        wait_recorded(d, name)
        runc.wait_for_program(name, "sleep")  # a first cat is done
        out = subprocess.run(
            [TRACELOOP, "dump", name, "--socket", d.socket], capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        first = Path(out.stdout.strip())
        assert first.is_file()
        header, recs = read(first)
        assert reasons(header) == ["manual"] and b"/alive-marker" in paths(recs)
        # Recording resumed after the manual dump (the count of recorded calls
        # moves again): SIGUSR1 dumps it again, with new calls.
        recorded = d.metric("traceloop_syscalls_recorded")
        wait_until(
            lambda: d.metric("traceloop_syscalls_recorded") > recorded, what="recording to resume"
        )
        d.proc.send_signal(signal.SIGUSR1)
        dumps = d.wait_dumps(2)
        second = next(p for p in dumps if p != first)
        _, recs2 = read(second)
        assert max(r[1] for r in recs2) > max(r[1] for r in recs)
        bad = subprocess.run(
            [TRACELOOP, "dump", "no-such-container", "--socket", d.socket],
            capture_output=True,
            text=True,
        )
        assert bad.returncode != 0 and "no recorded container" in bad.stderr
        assert "Traceback" not in bad.stderr
        runc.kill(name, "KILL")
        proc.wait(10)


def test_sigterm_stops_cleanly_and_logs_json(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--log-format", "json") as d:
        runc.run(["/bin/sh", "-c", "exit 3"], name="json")
        d.wait_dumps(1)
        assert d.stop() == 0
    lines = [json.loads(x) for x in d.log if x.startswith("{")]
    assert any(x["msg"] == "dump written" and x["container"] == "json" for x in lines)
    assert any(x["msg"].startswith("stopping") for x in lines)


def test_window_keeps_only_the_last_seconds_before_the_trigger(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--window", "0.5") as d:
        # The sleep in the container is the test: calls older than the window go.
        res = runc.run(
            ["/bin/sh", "-c", "cat /early-marker; sleep 1.5; cat /late-marker; exit 3"],
            name="windowed",
        )
        assert res.returncode == 3
        [dump] = d.wait_dumps(1)
    header, recs = read(dump)
    seen = paths(recs)
    assert b"/late-marker" in seen and b"/early-marker" not in seen
    assert header["window"]["seconds"] == 0.5 and header["window"]["cut"] > 0
    trigger_ts = header["triggers"][0]["ts_ns"]
    assert all(trigger_ts - r[1] <= 0.5e9 for r in recs)


def test_daemon_listen_address_errors_are_one_line(tmp_path: Path) -> None:
    argv = [
        TRACELOOP,
        "daemon",
        "--sink",
        str(tmp_path / "d"),
        "--control-socket",
        str(tmp_path / "s"),
    ]
    r = subprocess.run([*argv, "--metrics-addr", "localhost"], capture_output=True, text=True)
    assert r.returncode == 2 and "'localhost' is not HOST:PORT" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addr = f"127.0.0.1:{taken.getsockname()[1]}"
        r = subprocess.run(
            [*argv, "--metrics-addr", addr], capture_output=True, text=True, timeout=120
        )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"traceloop: error: --metrics-addr {addr}: cannot listen: Address already in use"
    ]


def test_a_second_daemon_on_the_same_socket_is_refused(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as first:
        r = subprocess.run(
            [TRACELOOP, "daemon", "--cgroup-root", str(runc.cgroup_root()),
             "--sink", str(tmp_path / "other"), "--control-socket", first.socket],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.strip().splitlines() == [
            f"traceloop: error: --control-socket {first.socket}: another daemon is listening "
            "there (stop it, or give this one another --control-socket)"
        ]
        # The first daemon's socket is still there and answers.
        out = subprocess.run(
            [TRACELOOP, "dump", "--socket", first.socket, "no-such-container"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "no recorded container matches 'no-such-container'" in out.stderr
