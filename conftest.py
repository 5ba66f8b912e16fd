"""Shared test set-up.

BPF tests are marked `bpf`. They skip when not root, but with
TRACELOOP_REQUIRE_BPF=1 (set by `make test`, so always in CI) any skipped BPF
test is turned into a failure: the suite cannot pass green without them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
PROGS = Path(__file__).resolve().parent / "tests" / "progs"
REQUIRE_BPF = os.environ.get("TRACELOOP_REQUIRE_BPF") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root for BPF")
    for item in items:
        if "bpf" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_BPF and report.skipped and "bpf" in item.keywords:
        report.outcome = "failed"
        report.longrepr = (
            f"BPF test skipped while TRACELOOP_REQUIRE_BPF=1: {report.longrepr!r}; "
            "these tests must run in CI (as root, on a BPF-capable kernel)"
        )


@pytest.fixture(scope="session")
def progs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/progs/*.c compiled statically (they also run inside busybox containers)."""
    out = tmp_path_factory.mktemp("progs")
    for src in PROGS.glob("*.c"):
        subprocess.run(
            ["gcc", "-O1", "-static", "-pthread", "-o", str(out / src.stem), str(src)],
            check=True,
        )
    return out


@pytest.fixture
def traceloop() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "traceloop")]


@pytest.fixture(scope="session")
def runc(tmp_path_factory: pytest.TempPathFactory, progs: Path) -> Iterator[object]:
    """A runc harness (tests/runc.py) with busybox and the test programs inside."""
    from runc import Runc, build_rootfs

    if os.geteuid() != 0:
        pytest.skip("needs root for runc")
    work = tmp_path_factory.mktemp("runc")
    r = Runc(work, build_rootfs(work / "rootfs", progs))
    yield r
    r.cleanup()
