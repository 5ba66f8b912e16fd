"""/metrics of a real running daemon, parsed with prometheus_client's own parser:
the names follow Prometheus' conventions, labelled series exist at zero, S3 and
Kubernetes metrics appear only with an S3 sink and the pod watch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonutil import daemon
from kube_server import FakeKube
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from runc import Runc
from s3util import Moto, moto_server

from sidecar import __version__

pytestmark = pytest.mark.bpf

REASONS = ("nonzero-exit", "fatal-signal", "oom-kill", "container-exit", "manual")


def families(text: str) -> dict[str, tuple[str, list[Sample]]]:
    """family name -> (type, samples)"""
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def value(fams: dict[str, tuple[str, list[Sample]]], sample: str, **labels: str) -> float:
    for _, samples in fams.values():
        for s in samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no {sample}{labels} in {sorted(fams)}")


def check_names(fams: dict[str, tuple[str, list[Sample]]]) -> None:
    for name, (kind, samples) in fams.items():
        for s in samples:
            if kind == "counter":
                assert s.name == f"{name}_total", s
            elif kind == "histogram":
                assert s.name.removeprefix(name) in ("_bucket", "_sum", "_count"), s
            else:
                assert not s.name.endswith(("_total", "_created")), s
        if kind == "histogram":
            assert name.endswith(("_seconds", "_bytes")), name  # a unit, the base one
        for word in ("_ms", "_milliseconds", "_kb", "_mb", "_kilobytes", "_megabytes"):
            assert word not in name, name
        if any(w in name for w in ("_age", "_duration", "_latency", "_time")):
            assert name.endswith("_seconds"), name
        if any(w in name for w in ("_size", "_bytes")):
            assert name.endswith("_bytes"), name


def test_metrics_of_a_daemon_without_s3_or_kubernetes(runc: Runc, tmp_path: Path) -> None:
    with daemon(runc.cgroup_root(), tmp_path / "dumps") as d:
        fams = families(d.metrics_text())
        check_names(fams)
        assert value(fams, "traceloop_build_info", version=__version__) == 1
        for reason in REASONS:
            assert value(fams, "traceloop_triggers_total", reason=reason) == 0
        for result in ("written", "failed"):
            assert value(fams, "traceloop_dumps_total", result=result) == 0
        # The kernel's counters, one counter each.
        for counter in (
            "traceloop_syscalls_not_recorded",
            "traceloop_slabs_adopted",
            "traceloop_kernel_events_dropped",
            "traceloop_captures_failed",
        ):
            assert fams[counter][0] == "counter"
        assert "traceloop_kernel_counter" not in fams
        own = [n for n in fams if n.startswith("traceloop_")]
        assert not [n for n in own if n.startswith(("traceloop_s3_", "traceloop_spool_"))]
        assert not [n for n in own if n.startswith("traceloop_kube_")]
        assert ("traceloop_triggers", "pod-restart") not in {
            (n, s.labels.get("reason")) for n, (_, ss) in fams.items() for s in ss
        }

        # They count: a crash is a trigger, a dump, and a slab the kernel handed out.
        assert runc.run(["/bin/sh", "-c", "exit 3"], name="m1").returncode == 3
        d.wait_dumps(1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            fams = families(d.metrics_text())
            if value(fams, "traceloop_dumps_total", result="written") == 1:
                break
            time.sleep(0.2)
        assert value(fams, "traceloop_dumps_total", result="written") == 1
        assert value(fams, "traceloop_triggers_total", reason="nonzero-exit") >= 1
        assert value(fams, "traceloop_slabs_adopted_total") >= 1
        assert value(fams, "traceloop_dumps_total", result="failed") == 0


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_server() as m:
        yield m


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    k = FakeKube().start()
    yield k
    k.stop()


def test_s3_and_kubernetes_metrics_with_an_s3_sink_and_the_pod_watch(
    runc: Runc, tmp_path: Path, moto: Moto, kube: FakeKube
) -> None:
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    extra = (
        "--sink", f"s3://{moto.bucket()}/m", "--spool", str(tmp_path / "spool"),
        "--kubernetes", "on", "--kubeconfig", str(kc), "--node-name", "node1",
    )  # fmt: skip
    with daemon(runc.cgroup_root(), tmp_path / "dumps", *extra, env=moto.env()) as d:
        fams = families(d.metrics_text())
    check_names(fams)
    for result in ("ok", "failed"):
        assert value(fams, "traceloop_s3_uploads_total", result=result) == 0
    for kind in ("connection", "access-denied", "no-bucket", "server"):
        assert value(fams, "traceloop_s3_errors_total", kind=kind) == 0
    for action in ("refused", "dropped"):
        assert value(fams, "traceloop_spool_full_total", action=action) == 0
    assert value(fams, "traceloop_spool_bytes") == 0
    assert fams["traceloop_spool_oldest_age_seconds"][0] == "gauge"
    # The pod watch: restarts, re-lists, errors, Events.
    for counter in (
        "traceloop_kube_watch_restarts",
        "traceloop_kube_relists",
        "traceloop_kube_watch_errors",
    ):
        assert value(fams, f"{counter}_total") == 0
    for result in ("posted", "failed", "dropped"):
        assert value(fams, "traceloop_kube_events_total", result=result) == 0
    assert value(fams, "traceloop_triggers_total", reason="pod-restart") == 0
