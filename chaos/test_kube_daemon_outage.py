"""The daemon with real containers whose pods restart while the API server drops
watches, answers 410 and is unreachable for 30 seconds: one dump per restart, the
daemon never exits."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubetest import daemon_chaos
from runc import Runc

pytestmark = [pytest.mark.bpf, pytest.mark.chaos]


def test_pod_restarts_across_a_30s_outage(runc: Runc, tmp_path: Path) -> None:
    daemon_chaos(runc, tmp_path, pods=4, rounds=6, outage=30, seed=7)
