"""Daemon chaos, quick enough for every test run: bursts, kills, full disks, crash loops."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from bpfutil import table
from daemonutil import daemon, read
from runc import Runc

from sidecar.dump.records import ARGS, CAPS, NR

pytestmark = [pytest.mark.bpf, pytest.mark.chaos]
WRITTEN = 'traceloop_dumps_total{result="written"}'
FAILED = 'traceloop_dumps_total{result="failed"}'
LIMITED = 'traceloop_incidents_rate_limited_total{scope="container"}'


def test_twenty_containers_crash_in_the_same_second(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        start = time.monotonic() + 1.0
        procs = [
            runc.start(["/bin/sh", "-c", f"cat /marker-{i}; exit 3"], f"burst{i}")
            for i in range(20)
        ]
        for _, p in procs:
            assert p.wait(60) == 3
        assert time.monotonic() - start < 10
        dumps = d.wait_dumps(20, timeout=60)
        m = d.wait_counted(20, WRITTEN)
        assert m[WRITTEN] == 20 and len(d.dumps()) == 20
    seen = set()
    for path in dumps:
        header, recs = read(path)  # reads to the footer: complete
        name = header["container"]["name"]
        why = (
            f"{path.name}: {header['container']} {header['triggers']} {len(recs)} records; daemon log:\n"
            + "\n".join(d.log)
        )
        assert f"/marker-{name[5:]}".encode() in {c[2] for r in recs for c in r[CAPS]}, why
        assert any(table().name(r[NR]) == "execve" for r in recs)
        assert table().name(recs[-1][NR]) == "exit_group" or any(
            table().name(r[NR]) == "exit_group" and r[ARGS][0] == 3 for r in recs
        )
        seen.add(name)
    assert seen == {f"burst{i}" for i in range(20)}


def test_sigkill_while_writing_never_leaves_a_partial_dump(runc: Runc, tmp_path: Path) -> None:
    sink = tmp_path / "dumps"
    caught_mid_write = 0
    for attempt in range(4):
        # A full 64k-slot window makes a dump take long enough to be caught:
        # the daemon is killed the moment its temporary file appears.
        with daemon(runc.cgroup_root(), sink, "--slots", "65536") as d:
            runc.run(["/bin/closeloop", "100000", "70000"], name=f"kill{attempt}")
            runc.run(["/bin/sh", "-c", "exit 4"], name=f"kill{attempt}b")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not list(sink.rglob(".tmp-*")):
                time.sleep(0.001)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
        caught_mid_write += bool(list(sink.rglob(".tmp-*")))
        for path in sink.rglob("*.msgpack"):
            read(path)  # every file under a final name is a whole dump
    assert caught_mid_write >= 1, "no kill landed in the middle of a write: the test proved nothing"
    # Restarted, the daemon cleans the leftovers and works.
    with daemon(runc.cgroup_root(), sink) as d:
        before = len(d.dumps())
        assert not list(sink.rglob(".tmp-*"))
        runc.run(["/bin/sh", "-c", "exit 6"], name="after")
        d.wait_dumps(before + 1)


def test_full_disk_is_an_error_and_a_metric_and_recording_goes_on(
    runc: Runc, tmp_path: Path
) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    # Room for a few dumps of ~150 KiB (more on a loaded machine, where runc's
    # own calls in the container add up): 160k held one at best, and none when
    # the first dump came out a little larger.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], check=True)
    try:
        with daemon(runc.cgroup_root(), mnt) as d:
            failed = 0.0
            for i in range(12):
                runc.run(["/bin/sh", "-c", f"cat /fill-{i}; exit 2"], name=f"fill{i}")
                # This crash's dump is written or has failed before the next one.
                failed = d.wait_counted(i + 1, WRITTEN, FAILED).get(FAILED, 0.0)
                if failed:
                    break
            assert failed >= 1
            assert any("dump failed" in x and "No space left" in x for x in d.log)
            kept = d.dumps()
            assert kept, "earlier dumps should be there"
            for p in kept:
                read(p)  # intact
            assert not list(mnt.rglob(".tmp-*"))
            # Space comes back: the next crash is dumped.
            for p in kept:
                p.unlink()
            runc.run(["/bin/sh", "-c", "cat /after-full; exit 2"], name="afterfull")
            [p] = d.wait_dumps(1)
            _, recs = read(p)
            assert b"/after-full" in {c[2] for r in recs for c in r[CAPS]}
            assert d.proc.poll() is None
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_crash_loop_of_100_yields_the_configured_dumps(runc: Runc, tmp_path: Path) -> None:
    with daemon(
        runc.cgroup_root(), tmp_path / "dumps", "--rate-limit", "3", "--rate-period", "60"
    ) as d:
        t0 = time.monotonic()
        for _ in range(100):
            runc.run(["/bin/sh", "-c", "exit 1"], name="crashloop")
        assert time.monotonic() - t0 < 60
        # A loaded machine can leave the daemon a little behind: until each of
        # the 100 crashes is dumped or rate-limited.
        m = d.wait_counted(100, WRITTEN, LIMITED, timeout=30)
        why = "daemon log:\n" + "\n".join(d.log)
        assert len(d.dumps()) == 3 and m[WRITTEN] == 3, why
        assert m[LIMITED] == 97, why
