"""The daemon behind the kernel: stopped (SIGSTOP) across a container's exit and the
re-creation of its cgroup path, it still decides that crash from the kernel's
record of it, by cgroup id (issue 11)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from daemonutil import daemon, read, wait_recorded
from runc import Runc

pytestmark = pytest.mark.bpf


def test_lag_across_an_exit_and_a_recreated_path_loses_no_crash(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        sleeper = None
        _, first = runc.start(["/bin/sh", "-c", "cat /lagged-marker; sleep 2; exit 1"], "lagged")
        wait_recorded(d, "lagged")
        d.proc.send_signal(signal.SIGSTOP)  # the daemon knows the container, then lags
        try:
            assert first.wait(30) == 1
            runc.delete("lagged")
            # A new incarnation at the same path, alive when the daemon looks again.
            _, sleeper = runc.start(["/bin/sleep", "60"], name="lagged")
            deadline = time.monotonic() + 20
            while "populated 1" not in _events(runc.cgroup("lagged")):
                assert time.monotonic() < deadline, "the second incarnation never started"
                time.sleep(0.05)
            time.sleep(3)  # longer than every window the daemon keeps exits for
        finally:
            d.proc.send_signal(signal.SIGCONT)
        try:
            [dump] = d.wait_dumps(1, timeout=30)
            header, recs = read(dump)
            reasons = {t["reason"] for t in header["triggers"]}
            assert "nonzero-exit" in reasons or "container-exit" in reasons, header["triggers"]
            assert header["container"]["exit_code"] == 1
            assert any(b"/lagged-marker" in c[2] for r in recs for c in r[10])
            assert not [line for line in d.log if "container exited" in line and "code=0" in line]
            assert header["container"]["name"] == "lagged"
        finally:
            runc.kill("lagged")
            if sleeper is not None:
                sleeper.wait(30)


def _events(cg: Path) -> str:
    try:
        return (cg / "cgroup.events").read_text()
    except OSError:
        return ""


def test_a_kubernetes_crash_loop_is_limited_across_restarts(runc: Runc, tmp_path: Path) -> None:
    """Every restart of a pod's container is a new container ID and cgroup; kubelet's
    cgroup path carries the pod UID, which the rate limit counts by."""
    uid = "1b2c3d4e-1111-2222-3333-444455556666"
    with daemon(runc.cgroup_root(), tmp_path / "dumps", "--rate-limit", "3") as d:
        for n in range(8):
            cid = f"{n:02x}" * 32
            r = runc.run(
                ["/bin/sh", "-c", "exit 1"], name=f"r{n}", cgroup=f"kubepods/pod{uid}/{cid}"
            )
            assert r.returncode == 1
        key = 'traceloop_incidents_rate_limited_total{scope="container"}'
        deadline = time.monotonic() + 30
        while d.metrics()[key] + len(d.dumps()) < 8:
            assert time.monotonic() < deadline, "\n".join(d.log[-30:])
            time.sleep(0.2)
        assert len(d.dumps()) == 3 and d.metrics()[key] == 5, "\n".join(d.log[-30:])


def test_a_container_running_before_the_daemon_says_its_recording_began_late(
    runc: Runc, tmp_path: Path
) -> None:
    script = 'trap "cat /late-start; exit 4" USR1; while :; do sleep 0.2; done'
    _, proc = runc.start(["/bin/sh", "-c", script], "early")
    deadline = time.monotonic() + 20
    while "populated 1" not in _events(runc.cgroup("early")):
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.05)
    try:
        with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
            runc.kill("early", "USR1")  # it ran before the daemon; now it fails
            assert proc.wait(30) == 4
            [dump] = d.wait_dumps(1)
            header, _ = read(dump)
            rec = header["container"]["recording"]
            assert rec["complete"] is False and rec["why"] == "running before the recorder started"
            assert rec["since"] <= header["triggers"][0]["time"]
        with daemon(runc.cgroup_root(), tmp_path / "dumps2") as d:
            runc.run(["/bin/sh", "-c", "exit 5"], name="fresh")
            [dump] = d.wait_dumps(1)
            assert read(dump)[0]["container"]["recording"] == {"complete": True}
    finally:
        runc.kill("early")
