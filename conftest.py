"""Shared test set-up: the skip policy, and the fixtures more than one test file uses.

Skips. BPF tests are marked `bpf` and skip when not root, so the rest can run
without privileges on a developer's machine. Under TRACELOOP_REQUIRE_BPF=1
(set by `make test` and `make chaos`) or CI=true, every skipped test is a
failure -- whatever skipped it: a missing tool, a missing privilege, an
xfail, a skip in a fixture or at import -- unless its node id is listed in
ALLOWED_SKIPS with the reason it skips for, word for word. A suite that
skipped what it was meant to test cannot pass green.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from kube_server import FakeKube
    from runc import Runc
    from s3util import Moto

ROOT = Path(__file__).resolve().parent
PROGS = Path(__file__).resolve().parent / "tests" / "progs"
STRICT = os.environ.get("TRACELOOP_REQUIRE_BPF") == "1" or os.environ.get("CI") == "true"

# Node id -> the reason its skip gives. Keep this empty if you can: an entry
# says "this test may not run in CI, and here is why that is fine".
ALLOWED_SKIPS: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root for BPF")
    for item in items:
        if "bpf" in item.keywords:
            item.add_marker(skip)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """What a skipped report says it skipped for (`pytest.skip(reason)`'s reason)."""
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"xfail: {wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def refuse_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    reason = skip_reason(report)
    if ALLOWED_SKIPS.get(report.nodeid) == reason:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped ({reason}) under TRACELOOP_REQUIRE_BPF=1 or CI=true: every test must run "
        f"here (as root, with the tools deploy/host-setup.sh installs); a skip that is "
        f"fine in CI goes into ALLOWED_SKIPS in conftest.py with its reason"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if STRICT and report.skipped:
        refuse_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # A module that skips at import (pytest.skip(allow_module_level=True),
    # importorskip) skips every test in it before any test report exists.
    report = yield
    if STRICT and report.skipped:
        refuse_skip(report)
    return report


# ---- programs and containers ------------------------------------------------------


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


@pytest.fixture(scope="session")
def strace() -> str:
    """Debian's strace, which the tests comparing with it run (a skip here fails
    the run under `make test` and in CI, as any skip not in ALLOWED_SKIPS)."""
    path = shutil.which("strace")
    if path is None:
        pytest.skip("strace is not installed (deploy/host-setup.sh installs it)")
    return path


@pytest.fixture
def traceloop() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "traceloop")]


@pytest.fixture(scope="session")
def runc(tmp_path_factory: pytest.TempPathFactory, progs: Path) -> Iterator[Runc]:
    """A runc harness (tests/runc.py) with busybox and the test programs inside."""
    from runc import Runc, build_rootfs

    if os.geteuid() != 0:
        pytest.skip("needs root for runc")
    work = tmp_path_factory.mktemp("runc")
    r = Runc(work, build_rootfs(work / "rootfs", progs))
    yield r
    r.cleanup()


# ---- S3: moto's server ------------------------------------------------------------


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """moto's real HTTP server on loopback; its state is per process, so each test
    makes its own bucket (`moto.bucket()`)."""
    from s3util import moto_server

    with moto_server() as m:
        yield m


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dummy credentials moto accepts, and no AWS_* setting from outside."""
    from s3util import use_dummy_aws_env

    use_dummy_aws_env(monkeypatch)


# ---- Kubernetes: the stand-in API server ------------------------------------------


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    """tests/kube_server.py on loopback, with no pods."""
    from kube_server import FakeKube

    k = FakeKube().start()
    yield k
    k.stop()
