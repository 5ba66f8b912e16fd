"""The pod watch and Events, with the real kubernetes client against tests/kube_server.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kube_server import FakeKube, make_pod, restart_container
from kubetest import Restarts, core_for, restart_watcher, running, sync_point
from waits import wait_until

from sidecar.kube.client import KubeConfigError, api_client, core_v1
from sidecar.kube.events import EventPoster, event_body
from sidecar.kube.informer import PodWatcher
from sidecar.kube.meta import PodMeta, Selection
from sidecar.kube.selector import parse

A, B, C, D, E = ("a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64)


@pytest.fixture
def core(kube: FakeKube, tmp_path: Path) -> Any:
    return core_for(kube, tmp_path)


def watcher(core: Any, got: Restarts, **kw: Any) -> PodWatcher:
    kw.setdefault("node", "node1")
    return restart_watcher(core, got, watch_timeout=30, backoff_initial=0.05, backoff_max=0.5, **kw)


def web(
    name: str = "web", ns: str = "shop", node: str = "node1", cid: str = A, **kw: Any
) -> dict[str, Any]:
    return make_pod(ns, name, node, [("app", "nginx:1.27", f"containerd://{cid}")], **kw)


def restart(kube: FakeKube, name: str, new: str, ns: str = "shop", **kw: Any) -> None:
    kube.update_pod(ns, name, lambda p: restart_container(p, "app", f"containerd://{new}", **kw))


def test_restart_is_reported_with_last_state(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    kube.create_pod(web("elsewhere", node="node2", cid=C))
    got = Restarts()
    with running(watcher(core, got)) as w:
        assert w.synced.wait(10)
        restart(kube, "web", B, exit_code=137, reason="OOMKilled")
        restart(kube, "elsewhere", D)  # another node: not ours
        wait_until(lambda: len(got) == 1)
        sync_point(kube, w)
    [r] = got.items
    pod = kube.get_pod("shop", "web")
    assert (r.namespace, r.pod, r.uid, r.node, r.container) == (
        "shop",
        "web",
        pod["metadata"]["uid"],
        "node1",
        "app",
    )
    assert (r.container_id, r.previous_container_id, r.image, r.restart_count) == (
        B,
        A,
        "nginx:1.27",
        1,
    )
    term = pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    assert r.terminated == {
        "reason": "OOMKilled",
        "exitCode": 137,
        "containerID": A,
        "startedAt": term["startedAt"],
        "finishedAt": term["finishedAt"],
    }
    # The watch asked only for this node's pods, from the list's resourceVersion.
    lists = [q for m, path, q in kube.requests if path == "/api/v1/pods" and "watch" not in q]
    watches = [q for m, path, q in kube.requests if path == "/api/v1/pods" and "watch" in q]
    assert lists[0]["fieldSelector"] == "spec.nodeName=node1"
    assert watches[0]["fieldSelector"] == "spec.nodeName=node1"
    assert watches[0]["allowWatchBookmarks"] == "true"
    assert int(watches[0]["resourceVersion"]) == 102  # the list's revision (two pods created)


def test_restarts_before_start_are_not_reported(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    restart(kube, "web", B)
    restart(kube, "web", C)
    got = Restarts()
    with running(watcher(core, got)) as w:
        assert w.synced.wait(10)
        restart(kube, "web", D)
        wait_until(lambda: len(got) >= 1)
        sync_point(kube, w)
    assert got.keys() == [("web", 3)]
    assert got.items[0].previous_container_id == C


@pytest.mark.parametrize("as_http", [False, True], ids=["error-event", "http-status"])
def test_410_after_a_gap_relists_and_reports_the_gap_restart_once(
    tmp_path: Path, as_http: bool
) -> None:
    kube = FakeKube(expired_as_http=as_http).start()
    try:
        kube.create_pod(web())
        kube.create_pod(web("quiet", cid=C))
        got = Restarts()
        with running(watcher(core_for(kube, tmp_path), got)) as w:
            sync_point(kube, w)
            kube.go_down()  # the gap: nobody watching
            restart(kube, "web", B, exit_code=2)
            kube.delete_pod("shop", "quiet")
            kube.compact()  # and the server forgot what happened in it
            kube.come_up()
            wait_until(lambda: w.stats.expired >= 1 and w.stats.lists >= 2, what="a re-list")
            sync_point(kube, w)
            restart(kube, "web", D)  # and watching goes on after the re-list
            wait_until(lambda: len(got) >= 2)
            sync_point(kube, w)
            assert w.pod_for(C) is not None  # deleted in the gap, still known
            assert [p.name for p in w.deleted_pods()] == ["quiet"]
        assert got.keys() == [("web", 1), ("web", 2)]
        assert got.items[0].terminated["exitCode"] == 2
    finally:
        kube.stop()


def test_410_on_a_live_watch_relists_without_reporting_twice(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    got = Restarts()
    with running(watcher(core, got)) as w:
        sync_point(kube, w)
        restart(kube, "web", B)
        wait_until(lambda: len(got) == 1)
        kube.compact()
        assert kube.expire_watches() == 1
        wait_until(lambda: w.stats.lists >= 2, what="a re-list")
        sync_point(kube, w)
    assert got.keys() == [("web", 1)]  # the re-list saw restartCount 1 again: not new


def test_bookmarks_move_the_resource_version(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    got = Restarts()
    with running(watcher(core, got)) as w:
        sync_point(kube, w)
        kube.create_pod(web("elsewhere", node="node2", cid=C))  # invisible to this watch
        for _ in range(3):
            restart(kube, "elsewhere", D)
        assert int(w.resource_version or 0) < kube.resource_version
        sync_point(kube, w)  # only a bookmark can have moved it
        assert w.resource_version == str(kube.resource_version)
        assert w.stats.bookmarks >= 1
        kube.compact()  # so resuming from anything older than the bookmark would be 410
        kube.drop_watches()
        restart(kube, "web", B)
        wait_until(lambda: len(got) == 1)
        assert w.stats.lists == 1 and w.stats.expired == 0
    last = [q for _, _, q in kube.requests if "watch" in q][-1]
    assert int(last["resourceVersion"]) >= int(
        kube.get_pod("shop", "elsewhere")["metadata"]["resourceVersion"]
    )


def test_dropped_connections_resume_from_the_last_revision(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    got = Restarts()
    with running(watcher(core, got)) as w:
        sync_point(kube, w)
        for n, new in enumerate([B, C, D, E], start=1):
            assert kube.drop_watches() >= 1
            restart(kube, "web", new)
            got.wait_for(n)
            kube.wait_for_watch()  # the watcher is back before the next drop
        sync_point(kube, w)
        assert w.stats.lists == 1  # never needed to list again
        assert w.stats.watches >= 5
    assert got.keys() == [("web", 1), ("web", 2), ("web", 3), ("web", 4)]


def test_server_down_and_back_with_history(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    got = Restarts()
    with running(watcher(core, got)) as w:
        sync_point(kube, w)
        kube.go_down()
        restart(kube, "web", B)
        wait_until(lambda: w.stats.errors >= 2, what="failed reconnects")
        kube.come_up()
        wait_until(lambda: len(got) == 1)
        sync_point(kube, w)
        assert w.stats.lists == 1  # resumed from its revision: history was still there
    assert got.keys() == [("web", 1)]


def test_deleted_pods_are_kept_for_a_while(kube: FakeKube, core: Any) -> None:
    now = [1000.0]
    kube.create_pod(web())
    kube.create_pod(web("other", cid=C))
    got = Restarts()
    with running(watcher(core, got, retention=600, clock=lambda: now[0])) as w:
        sync_point(kube, w)
        # The last status before deletion says the container restarted: still reported.
        restart(kube, "web", B)
        kube.delete_pod("shop", "web")
        sync_point(kube, w)
        assert got.keys() == [("web", 1)]
        meta = w.pod_for(f"containerd://{A}")
        assert meta == PodMeta("node1", "shop", "web", got.items[0].uid, "app", A, "nginx:1.27")
        assert w.pod_for(B) is not None
        now[0] += 601
        restart(kube, "other", D)  # any event purges what is too old
        sync_point(kube, w)
        assert w.pod_for(A) is None and w.pod_for(B) is None
        assert w.pod_for(C) is not None


def test_selection_and_opt_out(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web("web", labels={"app": "web"}))
    kube.create_pod(web("db", cid=B, labels={"app": "db"}))
    kube.create_pod(
        web("shy", cid=C, labels={"app": "web"}, annotations={"traceloop.io/record": "false"})
    )
    kube.create_pod(web("sys", ns="kube-system", cid=D, labels={"app": "web"}))
    kube.create_pod(web("secret", ns="vault", cid=E, labels={"app": "web"}))
    sel = Selection(
        exclude_namespaces=frozenset({"kube-system"}),
        selector=parse("app=web"),
        no_buffer_namespaces=frozenset({"vault"}),
    )
    got = Restarts()
    with running(watcher(core, got, selection=sel)) as w:
        sync_point(kube, w)

        def pod(cid: str) -> Any:
            found = w.pod_state(cid)
            assert found is not None, cid
            return found

        assert sel.wants(pod(A)) and sel.wants(pod(f"containerd://{E}"))
        assert not sel.wants(pod(B)) and not sel.wants(pod(C)) and not sel.wants(pod(D))
        assert (
            w.pod_state("f" * 64) is None
        )  # unknown: the daemon decides (tests/test_kube_daemon.py)
        assert sel.buffers_allowed(pod(A)) and not sel.buffers_allowed(pod(E))
        for name, ns in [
            ("web", "shop"),
            ("db", "shop"),
            ("shy", "shop"),
            ("sys", "kube-system"),
            ("secret", "vault"),
        ]:
            restart(kube, name, "9" * 64, ns=ns)
        sync_point(kube, w)
        assert w.pod_for(B) is not None  # excluded pods are still known
    assert sorted(got.keys()) == [("secret", 1), ("web", 1)]


def test_sidecar_mode_watches_only_its_own_pod(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    kube.create_pod(web("neighbour", cid=B))
    got = Restarts()
    w = watcher(core, got, node=None, namespace="shop", pod_name="web")
    with running(w):
        sync_point(kube, w)
        assert [p.name for p in w.pods()] == ["web"]
        restart(kube, "neighbour", C)
        restart(kube, "web", D)
        wait_until(lambda: len(got) == 1)
        sync_point(kube, w)
    assert got.keys() == [("web", 1)]
    paths = {(path, q.get("fieldSelector")) for _, path, q in kube.requests}
    assert paths == {("/api/v1/namespaces/shop/pods", "metadata.name=web")}


def test_a_failing_callback_does_not_stop_the_watch(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    seen: list[int] = []

    def flaky(r: Any) -> None:
        seen.append(r.restart_count)
        raise RuntimeError("boom")

    with running(restart_watcher(core, flaky, node="node1", backoff_initial=0.05)) as w:
        sync_point(kube, w)
        restart(kube, "web", B)
        restart(kube, "web", C)
        wait_until(lambda: len(seen) == 2)
    assert seen == [1, 2]


def test_unauthorized_is_retried_not_fatal(kube: FakeKube, tmp_path: Path) -> None:
    core = core_v1(api_client(str(kube.write_kubeconfig(tmp_path / "kc", token="wrong"))))
    w = watcher(core, Restarts())
    with running(w):
        wait_until(lambda: w.stats.errors >= 3, what="retries")
        assert not w.synced.is_set()
    assert all(m == "GET" for m, _, _ in kube.requests)


# ---- Events ------------------------------------------------------------------------------


def test_event_lands_on_the_pod(kube: FakeKube, core: Any) -> None:
    created = kube.create_pod(web())
    uid = created["metadata"]["uid"]
    meta = PodMeta("node1", "shop", "web", uid, "app", A, "nginx:1.27")
    poster = EventPoster(core, host="fallback-host")
    poster.start()
    poster.post(meta, "traceloop recorded container app: pod-restart; dump: /d/x.msgpack")
    poster.stop(timeout=10)
    assert poster.stats.posted == 1 and poster.stats.failed == 0
    [ev] = kube.events("shop")
    assert ev["reason"] == "TraceloopDump" and ev["type"] == "Warning"
    assert ev["message"].endswith("dump: /d/x.msgpack")
    assert ev["involvedObject"]["kind"] == "Pod"
    assert ev["involvedObject"]["uid"] == uid
    assert ev["involvedObject"]["name"] == "web"
    assert ev["involvedObject"]["namespace"] == "shop"
    assert ev["source"] == {"component": "traceloop", "host": "node1"}
    assert ev["reportingComponent"] == "traceloop"
    assert ev["count"] == 1 and ev["firstTimestamp"]
    # And a reader finds it the way kubectl describe does: by the pod.
    listed = core.list_namespaced_event("shop")
    assert [e.involved_object.uid for e in listed.items] == [uid]


def test_event_retries_while_the_server_is_down(kube: FakeKube, core: Any) -> None:
    meta = PodMeta("node1", "shop", "web", "u-1", "app", A, "nginx:1.27")
    kube.go_down()
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        if len(sleeps) == 2:
            kube.come_up()

    poster = EventPoster(core, host="h", sleep=sleep)
    poster.post_now(meta, "m")
    assert len(sleeps) == 2 and len(kube.events("shop")) == 1


def test_invalid_event_is_not_retried(
    kube: FakeKube, core: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps: list[float] = []
    poster = EventPoster(core, host="h", sleep=sleeps.append)
    poster.start()
    # Events are named after their pod: this name is no DNS subdomain, so the
    # API server refuses the Event as invalid (422), as it would every retry.
    bad = PodMeta("node1", "shop", "Not_A_Pod", "u-1", "app", A, "img")
    poster.post(bad, "m")
    poster.stop(timeout=10)
    assert poster.stats.failed == 1 and poster.stats.posted == 0 and sleeps == []
    assert [m for m, path, _ in kube.requests] == ["POST"]
    assert "HTTP 422" in caplog.text and kube.events() == []


def test_event_body_is_accepted_by_the_client_model() -> None:
    from kubernetes.client import CoreV1Event

    body = event_body(PodMeta("n", "ns", "p", "u", "c", "id", "img"), "m", host="h")
    ev = CoreV1Event.from_dict(body)
    assert ev is not None and ev.source is not None
    assert ev.involved_object.uid == "u" and ev.source.host == "n"


# ---- client configuration ------------------------------------------------------------------


def test_kubeconfig_from_environment(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "env-kc")))
    kube.create_pod(web())
    pods = core_v1(api_client()).list_namespaced_pod("shop")  # the server checks the token
    assert [p.metadata.name for p in pods.items] == ["web"]
    assert kube.requests[-1][1] == "/api/v1/namespaces/shop/pods"


def test_in_cluster_without_a_service_account_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kubernetes.config import incluster_config

    # Where the client looks for the pod's token: nothing there, whether or not
    # this machine happens to be a pod with a service account.
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(KubeConfigError, match="service account"):
        api_client()


def test_kubeconfig_from_environment_wins_in_a_pod_as_with_kubectl(
    kube: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a pod without a service account token: in-cluster set-up would fail.
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "env-kc")))
    kube.create_pod(web())
    pods = core_v1(api_client()).list_namespaced_pod("shop")
    assert [p.metadata.name for p in pods.items] == ["web"]


def test_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="--kubeconfig"):
        api_client(str(tmp_path / "nope"))


def test_new_container_ids_are_announced_once(kube: FakeKube, core: Any) -> None:
    kube.create_pod(web())
    seen: list[PodMeta] = []
    w = watcher(core, Restarts(), on_container=seen.append)
    with running(w):
        sync_point(kube, w)
        kube.create_pod(web("late", cid=C))
        restart(kube, "web", B)
        restart(kube, "late", D)
        sync_point(kube, w)
    ids = [m.container_id for m in seen]
    assert sorted(ids) == sorted([A, B, C, D])
    late = next(m for m in seen if m.container_id == C)
    assert (late.namespace, late.name, late.container, late.node) == (
        "shop",
        "late",
        "app",
        "node1",
    )
