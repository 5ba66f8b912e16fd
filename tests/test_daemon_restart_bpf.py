"""Nothing lost at a (re)start or in a full table (issue 11): containers that ran
before the daemon get a slot at once, not at their next call; a container left
without a slot is named once and its crash is logged and counted."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from daemonutil import TRACELOOP, Daemon, daemon, read
from runc import Runc
from waits import wait_until

pytestmark = pytest.mark.bpf

RECORDED = "traceloop_containers_recorded"
NOT_RECORDED = "traceloop_containers_not_recorded_total"
UNRECORDED_CRASHES = "traceloop_unrecorded_crashes_total"
CALLS_NOT_RECORDED = "traceloop_syscalls_not_recorded_total"


def _start_idle(runc: Runc, names: list[str]) -> list[subprocess.Popen[bytes]]:
    """Containers asleep in one long system call: none makes another until killed."""
    procs = [runc.start(["/bin/sleep", "600"], name)[1] for name in names]
    for name in names:
        runc.wait_for_program(name, "sleep", timeout=20)
    return procs


def _lines(d: Daemon, text: str) -> list[str]:
    return [line for line in d.log if text in line]


def test_idle_containers_running_before_the_daemon_are_recorded_at_start(
    runc: Runc, tmp_path: Path
) -> None:
    names = ["idle0", "idle1", "idle2"]
    procs = _start_idle(runc, names)
    try:
        with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
            # Recorded from the start, although none of them made a call since.
            wait_until(lambda: d.metric(RECORDED) == 3, what="3 containers recorded")
            runc.kill("idle1", "KILL")
            assert procs[1].wait(30) != 0
            [dump] = d.wait_dumps(1, timeout=30)
            header, _ = read(dump)
            assert header["container"]["name"] == "idle1"
            assert {t["reason"] for t in header["triggers"]} & {"fatal-signal", "container-exit"}
            rec = header["container"]["recording"]
            assert rec["complete"] is False and rec["why"] == "running before the recorder started"
            info = subprocess.run(
                [TRACELOOP, "show", "--info", str(dump)], capture_output=True, text=True, timeout=60
            )
            assert info.returncode == 0, info.stderr
            [line] = [x for x in info.stdout.splitlines() if x.strip().startswith("recording")]
            assert "began mid-life: running before the recorder started, since " in line
            assert rec["since"] in line
            # Exact: the slots of the live containers, not the dead one's it keeps.
            wait_until(lambda: d.metric(RECORDED) == 2, what="2 containers recorded")
    finally:
        for name, p in zip(names, procs, strict=True):
            runc.kill(name)
            p.wait(30)


def test_a_container_left_out_at_start_is_named_and_its_crash_counted(
    runc: Runc, tmp_path: Path
) -> None:
    names = ["early0", "early1"]
    procs = _start_idle(runc, names)
    try:
        with daemon(runc.cgroup_root(), tmp_path / "dumps", "--max-containers", "1") as d:
            wait_until(lambda: d.metric(NOT_RECORDED) == 1, what="a container left out")
            [line] = _lines(d, ": table full")
            out = next(n for n in names if f"not recording {n}: table full" in line)
            assert d.metric(RECORDED) == 1
            runc.kill(out, "KILL")
            assert procs[names.index(out)].wait(30) != 0
            wait_until(lambda: d.metric(UNRECORDED_CRASHES) == 1, what="the crash counted")
            [crash] = _lines(d, "crash of a container not recorded")
            assert f"container={out} " in crash + " " and "code=137" in crash
            assert "signal=SIGKILL" in crash
            assert d.dumps() == [] and d.metric(RECORDED) == 1
    finally:
        for name, p in zip(names, procs, strict=True):
            runc.kill(name)
            p.wait(30)


def test_a_full_table_names_each_container_left_out_once(runc: Runc, tmp_path: Path) -> None:
    busy = "i=0; while [ $i -lt 40 ]; do cat /busy; sleep 0.05; i=$((i+1)); done; exit 3"
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--max-containers", "2") as d:
        sleepers = [runc.start(["/bin/sleep", "600"], f"holder{i}") for i in range(2)]
        try:
            wait_until(lambda: d.metric(RECORDED) == 2, what="2 containers recorded")
            r = runc.run(["/bin/sh", "-c", busy], name="outsider")
            assert r.returncode == 3
            try:
                wait_until(lambda: d.metric(UNRECORDED_CRASHES) == 1, what="the crash counted")
            except AssertionError:
                print("\n".join(d.log))
                raise
            # Once per container, however many calls it made; the calls counted too.
            assert len(_lines(d, "not recording outsider: table full")) == 1, "\n".join(d.log)
            m = d.metrics()
            assert m[NOT_RECORDED] == 1 and m[CALLS_NOT_RECORDED] > 40
            [crash] = _lines(d, "crash of a container not recorded")
            assert "container=outsider " in crash + " " and "code=3" in crash
            assert d.dumps() == []
        finally:
            for name, p in sleepers:
                runc.kill(name)
                p.wait(30)


def test_containers_made_and_removed_while_the_daemon_lags_keep_their_names(
    runc: Runc, tmp_path: Path
) -> None:
    """The watch misses directories made and removed while the daemon is stopped:
    the kernel's record of the path, read when the cgroup got its slot, names them."""
    names = [f"brief{i}" for i in range(3)]
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        d.proc.send_signal(signal.SIGSTOP)
        try:
            for name in names:
                r = runc.run(["/bin/sh", "-c", f"cat /{name}; exit 1"], name=name)
                assert r.returncode == 1
                assert not runc.cgroup(name).exists()  # removed with the container
        finally:
            d.proc.send_signal(signal.SIGCONT)
        dumps = d.wait_dumps(3, timeout=30)
        seen = {}
        for path in dumps:
            header, recs = read(path)
            c = header["container"]
            seen[c["name"]] = (c["cgroup_path"], {cap[2] for r in recs for cap in r[10]})
        root = "/" + runc.parent
        assert {k: v[0] for k, v in seen.items()} == {n: f"{root}/{n}" for n in names}, d.log
        assert not _lines(d, "cgroup-")
        for name, (_, caps) in seen.items():  # and each dump holds its own calls
            assert f"/{name}".encode() in caps
