"""The daemon's Kubernetes part (sidecar/daemon/kube.py) against the stand-in API server,
with a stand-in for the daemon's main loop (the real daemon: tests/test_kube_e2e_bpf.py)."""

from __future__ import annotations

import argparse
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kube_server import FakeKube, make_pod, restart_container
from kubetest import core_for, sync_point
from waits import wait_until

from sidecar.cli.kube_options import add_kube_options, kube_enabled, selection_from
from sidecar.daemon.kube import Kube
from sidecar.daemon.tracked import Tracked
from sidecar.host.cgroups import Cgroup
from sidecar.model.containers import ContainerRef
from sidecar.model.incidents import Incident
from sidecar.model.trigger import Trigger

A, B, C, D, E = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)


@dataclass
class MainLoop:
    """What Kube uses of sidecar.daemon.Daemon, run by hand."""

    tracked: dict[int, Tracked] = field(default_factory=dict)
    calls: queue.Queue[Callable[[], None]] = field(default_factory=queue.Queue)
    triggered: list[tuple[int, Trigger]] = field(default_factory=list)
    pod_of: Callable[[ContainerRef], dict[str, Any] | None] = lambda ref: None

    def drain(self) -> None:
        while not self.calls.empty():
            self.calls.get_nowait()()

    def trigger(
        self, match: Callable[[Tracked], bool], trig: Trigger, force: bool = False
    ) -> list[Incident]:
        out = []
        for t in self.tracked.values():
            if match(t):
                self.triggered.append((t.cgroup_id, trig))
                out.append(Incident(t.key, t.ref.name, [trig], 0.0))
        return out

    untracked: list[tuple[int, str]] = field(default_factory=list)
    recorded: Callable[[ContainerRef], None] = lambda ref: None

    def track(self, cgroup_id: int, cid: str, pod_uid: str | None = None) -> Tracked:
        """As the engine's _new_slab: tracked, named, and the enrichment told."""
        path = f"/kubepods/pod{pod_uid}/{cid}" if pod_uid else f"/kubepods/{cid}"
        ref = ContainerRef(cid[:12], cid, "containerd", pod_uid, path)
        t = Tracked(cgroup_id, 0, 0, ref, Cgroup(Path("/nonexistent") / cid, Path("/")))
        t.pod = self.pod_of(ref)
        self.tracked[cgroup_id] = t
        self.recorded(ref)
        return t

    def untrack(self, t: Tracked, why: str) -> bool:
        del self.tracked[t.cgroup_id]
        self.untracked.append((t.cgroup_id, why))
        return True


@pytest.fixture
def running(kube: FakeKube, tmp_path: Path) -> Iterator[tuple[MainLoop, Kube]]:
    loop = MainLoop()
    k = Kube(
        core_for(kube, tmp_path),
        node="node1",
        own_pod=None,
        selection=selection_from(parse_args([])),
        events=True,
    )
    loop.pod_of = k.pod_of
    loop.recorded = k.recorded
    k.start(loop)
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


def test_enabled_by_default_only_in_a_pod_or_with_a_kubeconfig_or_kubeconfig_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert not kube_enabled(parse_args([]))
    assert kube_enabled(parse_args(["--kubeconfig", "/x"]))
    assert not kube_enabled(parse_args(["--kubeconfig", "/x", "--kubernetes", "off"]))
    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/dev")  # as kubectl finds a cluster
    assert kube_enabled(parse_args([]))
    assert not kube_enabled(parse_args(["--kubernetes", "off"]))
    monkeypatch.delenv("KUBECONFIG")
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
    k.dumped(inc, t.pod)
    late = Trigger("pod-restart", "kubernetes", 0, "t", exit_code=3, detail={"reason": "Error"})
    k.late(inc, late, t.pod)
    k.late(inc, kernel, t.pod)  # a late kernel trigger says nothing new to Kubernetes
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


def test_counts_for_metrics_follow_the_watch_and_the_events(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    kube.create_pod(make_pod("shop", "web", "node1", [("app", "nginx", f"containerd://{A}")]))
    sync_point(kube, k.watcher)
    assert k.counts() == dict.fromkeys(
        ("watch_restarts", "relists", "watch_errors", "events_posted", "events_failed",
         "events_dropped"), 0,
    )  # fmt: skip
    # 410 Gone: the watch ends, the pods are listed again and watched anew.
    kube.expire_watches()
    wait_until(lambda: k.counts()["relists"] == 1, what="a re-list")
    wait_until(lambda: k.counts()["watch_restarts"] >= 1, what="a new watch")
    # The API server goes away: failed requests, counted.
    kube.go_down()
    wait_until(lambda: k.counts()["watch_errors"] >= 1, what="a failed request")
    kube.come_up()
    sync_point(kube, k.watcher)
    t = loop.track(7, A)
    trig = Trigger("nonzero-exit", "kernel", 1, "2024-01-01T00:00:00Z", pid=9, exit_code=3)
    k.dumped(Incident(t.key, "app", [trig], 0.0, location="/dumps/x.msgpack"), t.pod)
    wait_until(lambda: k.counts()["events_posted"] == 1, what="an Event posted")
    assert k.counts()["events_failed"] == 0


SANDBOX, INIT = "5" * 64, "1" * 64


def test_the_pods_sandbox_is_not_recorded_once_a_younger_container_is_reported(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    uid = kube.create_pod(
        make_pod("shop", "web", "node1", [("app", "nginx", "")],
                 init_containers=[("init", "busybox", "")])
    )["metadata"]["uid"]  # fmt: skip
    sync_point(kube, k.watcher)
    loop.drain()
    # The sandbox starts first; its ID never shows in the pod's status.
    loop.track(10, SANDBOX, uid)
    loop.track(11, INIT, uid)
    assert loop.untracked == []  # nothing reported yet: nothing to tell them apart by
    kube.update_pod("shop", "web", lambda p: set_ids(p, init=INIT))
    sync_point(kube, k.watcher)
    loop.drain()
    assert loop.untracked == [(10, "pod sandbox")]
    # The app container, and its next incarnation before the kubelet reports it:
    # younger than every reported container, so it is not taken for a sandbox.
    loop.track(12, A, uid)
    kube.update_pod("shop", "web", lambda p: set_ids(p, init=INIT, app=A))
    sync_point(kube, k.watcher)
    loop.drain()
    loop.track(13, B, uid)
    loop.drain()
    assert loop.untracked == [(10, "pod sandbox")] and 13 in loop.tracked


def test_containers_recorded_before_the_watch_starts_are_judged_by_its_first_list(
    kube: FakeKube, tmp_path: Path
) -> None:
    """The daemon gives running containers their slots before the pod watch starts:
    the Kubernetes part is told of them then, and judges them once it lists pods."""
    uid = kube.create_pod(make_pod("shop", "web", "node1", [("app", "nginx", "")]))["metadata"][
        "uid"
    ]
    kube.update_pod("shop", "web", lambda p: set_ids(p, app=A))
    loop = MainLoop()
    k = Kube(
        core_for(kube, tmp_path), node="node1", own_pod=None,
        selection=selection_from(parse_args([])), events=False,
    )  # fmt: skip
    loop.pod_of, loop.recorded = k.pod_of, k.recorded
    loop.track(10, SANDBOX, uid)
    loop.track(12, A, uid)
    k.start(loop)
    try:
        sync_point(kube, k.watcher)

        def judged() -> bool:
            loop.drain()
            return bool(loop.untracked)

        wait_until(judged, what="the sandbox judged")
        assert loop.untracked == [(10, "pod sandbox")]
        pod = loop.tracked[12].pod
        assert pod is not None and pod["name"] == "web"
    finally:
        k.stop()


def test_an_ended_unreported_container_is_kept_for_its_dump(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    uid = kube.create_pod(make_pod("shop", "web", "node1", [("app", "nginx", "")]))["metadata"][
        "uid"
    ]
    sync_point(kube, k.watcher)
    gone = loop.track(10, SANDBOX, uid)
    gone.alive = False  # crashed before the kubelet ever reported it
    loop.track(11, A, uid)
    kube.update_pod("shop", "web", lambda p: set_ids(p, app=A))
    sync_point(kube, k.watcher)
    loop.drain()
    assert loop.untracked == [] and 10 in loop.tracked


def set_ids(pod: dict[str, Any], *, init: str = "", app: str = "") -> dict[str, Any]:
    """The kubelet's report: these containers run with these IDs."""
    for key, cid in (("initContainerStatuses", init), ("containerStatuses", app)):
        for st in pod["status"].get(key, []):
            if cid:
                st["containerID"] = f"containerd://{cid}"
    return pod


def test_a_cgroup_named_like_another_pods_container_does_not_take_its_identity(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    victim = kube.create_pod(
        make_pod("bank", "vault", "node1", [("app", "vault", f"containerd://{A}")])
    )
    sync_point(kube, k.watcher)
    # A container of another pod whose cgroup is named after the victim's container ID.
    t = loop.track(1, A, pod_uid="99999999-8888-7777-6666-555555555555")
    assert t.pod is None and k.pod_of(t.ref) is None
    real = loop.track(2, A, pod_uid=victim["metadata"]["uid"])
    assert real.pod is not None and real.pod["name"] == "vault"
    kube.update_pod("bank", "vault", lambda p: restart_container(p, "app", f"containerd://{B}"))
    wait_until(lambda: not loop.calls.empty())
    sync_point(kube, k.watcher)
    loop.drain()
    assert [cg for cg, _ in loop.triggered] == [2]  # the restart is the real one's only


def test_opt_outs_apply_before_the_kubelet_reports_the_container(
    kube: FakeKube, running: tuple[MainLoop, Kube]
) -> None:
    loop, k = running
    k.metadata_wait = 5.0
    quiet = make_pod(
        "shop", "quiet", "node1", [("app", "nginx", "")],
        annotations={"traceloop.io/record": "false"},
    )  # fmt: skip
    secret = make_pod(
        "shop", "secret", "node1", [("app", "nginx", "")],
        annotations={"traceloop.io/buffers": "false"},
    )  # fmt: skip
    uids = [kube.create_pod(p)["metadata"]["uid"] for p in (quiet, secret)]
    sync_point(kube, k.watcher)
    # Their containers run (their cgroups carry the pod UIDs), but no status names them.
    q, s = loop.track(1, C, pod_uid=uids[0]), loop.track(2, D, pod_uid=uids[1])
    assert not k.wants(q.ref)
    assert k.wants(s.ref) and not k.buffers_allowed(s.ref)
    other = loop.track(3, E)  # no pod at all (not Kubernetes'): recorded, with buffers
    assert k.wants(other.ref) and k.buffers_allowed(other.ref)


def test_a_pod_not_known_yet_is_waited_for(kube: FakeKube, running: tuple[MainLoop, Kube]) -> None:
    loop, k = running
    k.metadata_wait = 10.0
    pod = make_pod(
        "shop", "late", "node1", [("app", "nginx", "")],
        annotations={"traceloop.io/record": "false"},
    )  # fmt: skip
    uid = "12345678-1234-1234-1234-123456789abc"
    pod["metadata"]["uid"] = uid
    sync_point(kube, k.watcher)
    t = loop.track(1, C, pod_uid=uid)
    timer = threading.Timer(0.5, lambda: kube.create_pod(pod))
    timer.start()
    try:
        assert not k.wants(t.ref)  # decided once the watch learned the pod
    finally:
        timer.join()
