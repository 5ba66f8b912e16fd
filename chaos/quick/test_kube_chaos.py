"""Pod watch chaos, quick: the stream drops every few seconds, answers 410 (live and on
resume), and the API server is unreachable for a few seconds. No restart missed, none
reported twice, the watcher never exits."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube_server import FakeKube
from kubetest import (
    Chaos,
    Restarts,
    check_every_restart_once,
    core_for,
    restart_watcher,
    running,
    sync_point,
)

pytestmark = pytest.mark.chaos


def test_watch_survives_drops_410s_and_an_outage(kube: FakeKube, tmp_path: Path) -> None:
    got = Restarts()
    w = restart_watcher(
        core_for(kube, tmp_path),
        got,
        node="node1",
        watch_timeout=5,
        backoff_initial=0.1,
        backoff_max=1.0,
    )
    chaos = Chaos(duration=10, outage=3)
    with running(w):
        chaos.run(kube, w)
        sync_point(kube, w, timeout=20)
        assert w._thread is not None and w._thread.is_alive()
    total = check_every_restart_once(kube, got)
    assert total >= 20, chaos.log  # the run did restart things
    assert "outage" in chaos.log
    assert w.stats.expired >= 1 and w.stats.lists >= 2 and w.stats.errors >= 1
    assert any(r.pod == "newcomer" and r.terminated["reason"] == "OOMKilled" for r in got.items)
