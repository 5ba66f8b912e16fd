"""The daemon's Kubernetes part (sidecar/kubedaemon.py) against the stand-in API server,
with a stand-in for the daemon's main loop (the real daemon: tests/test_kube_e2e_bpf.py)."""

from __future__ import annotations

import argparse
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from kube_server import FakeKube, make_pod, restart_container
from kubetest import core_for, sync_point
from waits import wait_until

from sidecar.cli.kube_options import add_kube_options, kube_enabled, selection_from
from sidecar.daemon.engine import Tracked
from sidecar.daemon.kube import Kube
from sidecar.host.cgroups import Cgroup
from sidecar.model.containers import ContainerRef
from sidecar.model.incidents import Incident
from sidecar.model.trigger import Trigger

if TYPE_CHECKING:
    from sidecar.daemon.engine import Daemon

A, B = "a" * 64, "b" * 64


@dataclass
class MainLoop:
    """What Kube uses of sidecar.daemon.Daemon, run by hand."""

    tracked: dict[int, Tracked] = field(default_factory=dict)
    calls: queue.Queue[Callable[[], None]] = field(default_factory=queue.Queue)
    triggered: list[tuple[int, Trigger]] = field(default_factory=list)
    pod_lookup: Callable[[ContainerRef], dict[str, Any] | None] = lambda ref: None
    on_dumped: list[Callable[[Incident, Tracked], None]] = field(default_factory=list)
    on_late: list[Callable[[Incident, Trigger], None]] = field(default_factory=list)

    def drain(self) -> None:
        while not self.calls.empty():
            self.calls.get_nowait()()

    def trigger(self, match: Callable[[Tracked], bool], trig: Trigger) -> list[Incident]:
        out = []
        for t in self.tracked.values():
            if match(t):
                self.triggered.append((t.cgroup_id, trig))
                out.append(Incident(t.key, t.ref.name, [trig], 0.0))
        return out

    def track(self, cgroup_id: int, cid: str) -> Tracked:
        ref = ContainerRef(cid[:12], cid, "containerd", None, f"/kubepods/{cid}")
        t = Tracked(cgroup_id, 0, 0, ref, Cgroup(Path("/nonexistent") / cid, Path("/")))
        t.pod = self.pod_lookup(ref)
        self.tracked[cgroup_id] = t
        return t


@pytest.fixture
def running(kube: FakeKube, tmp_path: Path) -> Iterator[tuple[MainLoop, Kube]]:
    loop = MainLoop()
    k = Kube(
        cast("Daemon", loop),  # MainLoop has what Kube uses of a Daemon
        core_for(kube, tmp_path),
        node="node1",
        own_pod=None,
        selection=selection_from(parse_args([])),
        events=True,
    )
    loop.pod_lookup = k.pod_lookup
    loop.on_dumped.append(k.on_dumped)
    loop.on_late.append(k.on_late)
    k.start()
    yield loop, k
    k.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--node-name", default="node1")
    add_kube_options(p)
    return p.parse_args(argv)


def test_options() -> None:
    a = parse_args(
        [
            "--kubernetes",
            "on",
            "--kube-selector",
            "app=web,tier!=db",
            "--kube-exclude-namespaces",
            "kube-system, istio-system",
            "--kube-no-buffers-namespaces",
            "vault",
            "--kube-pod",
            "shop/web-1",
        ]
    )
    assert kube_enabled(a) and a.kube_pod == ("shop", "web-1")
    sel = selection_from(a)
    assert sel.exclude_namespaces == {"kube-system", "istio-system"}
    assert sel.no_buffer_namespaces == {"vault"}
    assert sel.selector is not None and sel.selector.matches({"app": "web"})
    with pytest.raises(SystemExit):
        parse_args(["--kube-selector", "app in (x"])
    with pytest.raises(SystemExit):
        parse_args(["--kube-pod", "just-a-name"])


def test_enabled_by_default_only_in_a_pod_or_with_a_kubeconfig(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not kube_enabled(parse_args([]))
    assert kube_enabled(parse_args(["--kubeconfig", "/x"]))
    assert not kube_enabled(parse_args(["--kubeconfig", "/x", "--kubernetes", "off"]))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert kube_enabled(parse_args([]))


def test_sidecar_mode_from_the_downward_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACELOOP_SIDECAR", "1")
    monkeypatch.setenv("POD_NAMESPACE", "shop")
    monkeypatch.setenv("POD_NAME", "web-1")
    assert parse_args([]).kube_pod == ("shop", "web-1")
    monkeypatch.delenv("TRACELOOP_SIDECAR")
    assert parse_args([]).kube_pod is None


def test_restart_triggers_the_incarnation_that_ended(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    kube.create_pod(make_pod("shop", "web", "node1", [("app", "nginx", f"containerd://{A}")]))
    sync_point(kube, k.watcher)
    loop.drain()
    old = loop.track(1, A)  # the watch knew the pod: named at once
    assert old.pod is not None and old.pod["name"] == "web" and old.pod["container_id"] == A
    kube.update_pod(
        "shop",
        "web",
        lambda p: restart_container(
            p, "app", f"containerd://{B}", exit_code=137, reason="OOMKilled"
        ),
    )
    loop.track(2, B)  # the new incarnation
    wait_until(lambda: not loop.calls.empty())
    sync_point(kube, k.watcher)
    loop.drain()
    [(cg, trig)] = loop.triggered
    assert cg == 1  # not the new container
    assert (trig.reason, trig.source, trig.exit_code) == ("pod-restart", "kubernetes", 137)
    assert trig.detail["reason"] == "OOMKilled"


def test_a_container_recorded_before_its_pod_was_known_is_named_later(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    sync_point(kube, k.watcher)
    t = loop.track(1, A)
    assert t.pod is None
    kube.create_pod(make_pod("shop", "web", "node1", [("app", "nginx", f"containerd://{A}")]))
    sync_point(kube, k.watcher)
    loop.drain()
    assert t.pod is not None and (t.pod["namespace"], t.pod["name"]) == ("shop", "web")


def test_events_for_dumps_and_for_late_kubernetes_triggers(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    uid = kube.create_pod(
        make_pod("shop", "web", "node1", [("app", "nginx", f"containerd://{A}")])
    )["metadata"]["uid"]
    sync_point(kube, k.watcher)
    t = loop.track(7, A)
    kernel = Trigger("nonzero-exit", "kernel", 1, "2024-01-01T00:00:00Z", pid=9, exit_code=3)
    inc = Incident(t.key, "app", [kernel], 0.0, location="/dumps/shop_web_app/x.msgpack")
    for dumped in loop.on_dumped:
        dumped(inc, t)
    late = Trigger("pod-restart", "kubernetes", 0, "t", exit_code=3, detail={"reason": "Error"})
    for late_hook in loop.on_late:
        late_hook(inc, late)
    for late_hook in loop.on_late:  # a late kernel trigger says nothing new to Kubernetes
        late_hook(inc, kernel)
    wait_until(lambda: len(kube.events("shop")) == 2)
    k.stop()
    evs = sorted(kube.events("shop"), key=lambda e: e["message"])
    assert all(e["involvedObject"]["uid"] == uid and e["reason"] == "TraceloopDump" for e in evs)
    assert evs[0]["message"] == (
        "traceloop recorded container app: nonzero-exit (exit 3, pid 9); "
        "dump: /dumps/shop_web_app/x.msgpack"
    )
    assert evs[1]["message"] == (
        "traceloop: Kubernetes reports pod-restart (Error, exit 3) of "
        "container app; its dump: /dumps/shop_web_app/x.msgpack"
    )
