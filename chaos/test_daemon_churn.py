"""Daemon chaos, long: hundreds of short containers made and removed in parallel
bursts, while the daemon is stopped now and then (a node under load lags). Every
container is named by its real path, none as cgroup-ID (issue 11: 28 of 900
were, when the cgroup watch missed a directory the runtime had removed)."""

from __future__ import annotations

import concurrent.futures
import re
import signal
import time
from pathlib import Path

import pytest
from daemonutil import daemon
from runc import Runc
from waits import wait_until

pytestmark = [pytest.mark.bpf, pytest.mark.chaos]

CONTAINERS = 400
PARALLEL = 8


def test_churn_with_lag_names_every_container(runc: Runc, tmp_path: Path) -> None:
    names = [f"churn{i}" for i in range(CONTAINERS)]
    runc.bundle("churn-first", ["/bin/true"])  # makes runc's spec once, before the threads
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:

        def one(name: str) -> int:
            return runc.run(["/bin/sh", "-c", "cat /churn; exit 0"], name=name).returncode

        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            results = pool.map(one, names)
            # Stop the daemon a few times while containers come and go.
            for _ in range(5):
                time.sleep(2)
                d.proc.send_signal(signal.SIGSTOP)
                time.sleep(1)
                d.proc.send_signal(signal.SIGCONT)
            assert set(results) == {0}
        # Every container made a call, so every one was adopted and reported.
        wait_until(lambda: len(_recorded(d.log)) >= CONTAINERS, timeout=60, what="all reported")
        logged = _recorded(d.log)
        unnamed = sorted(n for n in logged if n.startswith("cgroup-"))
        assert not unnamed, f"{len(unnamed)} containers without a name"
        assert logged == set(names), sorted(set(names) - logged)[:20]


def _recorded(log: list[str]) -> set[str]:
    return {
        m.group(1)
        for line in list(log)
        if "recording container" in line and (m := re.search(r"container=(\S+)", line))
    }
