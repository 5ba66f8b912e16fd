"""Pod watch chaos, long: a minute of drops and 410s around a 30-second outage of the
API server, with the watcher's production backoff. No restart missed, none reported
twice, the watcher never exits."""

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


@pytest.mark.parametrize("seed", [1, 2])
def test_watch_survives_a_30s_outage(tmp_path: Path, seed: int) -> None:
    kube = FakeKube(bookmark_interval=2.0, history_limit=50).start()
    try:
        got = Restarts()
        w = restart_watcher(core_for(kube, tmp_path), got, node="node1", watch_timeout=10)
        chaos = Chaos(duration=60, outage=30, pods=6, seed=seed)
        with running(w):
            chaos.run(kube, w)
            sync_point(kube, w, timeout=60)  # production backoff tops out at 30 s
            assert w._thread is not None and w._thread.is_alive()
        total = check_every_restart_once(kube, got)
        assert total >= 100, chaos.log
        assert w.stats.expired >= 1 and w.stats.errors >= 3
    finally:
        kube.stop()
