"""The daemon with real containers whose pods restart while the API server drops
watches, answers 410 and is away for a few seconds: one dump per restart, the
daemon never exits."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubetest import daemon_chaos
from runc import Runc

pytestmark = [pytest.mark.bpf, pytest.mark.chaos]


def test_pod_restarts_under_api_faults(runc: Runc, tmp_path: Path) -> None:
    daemon_chaos(runc, tmp_path, pods=2, rounds=3, outage=3)
