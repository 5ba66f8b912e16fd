"""End to end: `traceloop daemon` with real runc containers, and the stand-in API server
whose pods name those containers (their runc IDs in containerStatuses), as a kubelet would
report them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from daemonutil import read, wait_recorded
from kube_server import FakeKube, make_pod, restart_container
from kubetest import kube_daemon
from runc import Runc
from waits import wait_until

from sidecar.dump.records import CAPS

pytestmark = pytest.mark.bpf


def pod_with(kube: FakeKube, name: str, container_id: str) -> dict[str, Any]:
    """The pod the kubelet reports once its container started: runc's ID as containerID."""
    return kube.create_pod(
        make_pod("shop", name, "node1", [("app", "busybox:1.36", f"containerd://{container_id}")])
    )


def paths(recs: list[Any]) -> set[bytes]:
    return {c[2] for r in recs for c in r[CAPS]}


def test_restart_after_exit_0_gives_a_pod_restart_dump(
    runc: Runc, tmp_path: Path, kube: FakeKube
) -> None:
    pod = pod_with(kube, "web", "web-1")
    with kube_daemon(runc, tmp_path, kube) as d:
        res = runc.run(["/bin/sh", "-c", "cat /marker-web; exit 0"], name="web-1")
        assert res.returncode == 0
        wait_recorded(d, "web-1")
        # Exit 0 is no kernel trigger: the kubelet restarting the container is.
        kube.update_pod(
            "shop",
            "web",
            lambda p: restart_container(
                p, "app", "containerd://web-2", exit_code=0, reason="Completed"
            ),
        )
        [dump] = d.wait_dumps(1, timeout=30)
        wait_until(lambda: len(kube.events("shop")) == 1, 30, "the Event")
    header, recs = read(dump)
    [trig] = header["triggers"]
    assert (trig["reason"], trig["source"]) == ("pod-restart", "kubernetes")
    assert trig["exit_code"] == 0
    assert trig["detail"]["reason"] == "Completed" and trig["detail"]["containerID"] == "web-1"
    assert "message" not in trig["detail"]
    assert header["pod"] == {
        "node": "node1",
        "namespace": "shop",
        "name": "web",
        "uid": pod["metadata"]["uid"],
        "container": "app",
        "container_id": "web-1",
        "image": "busybox:1.36",
    }
    assert header["container"]["name"] == "web-1"
    assert b"/marker-web" in paths(recs)
    assert "shop_web_app" in str(dump.parent)
    [ev] = kube.events("shop")
    assert ev["involvedObject"]["uid"] == pod["metadata"]["uid"]
    assert ev["reason"] == "TraceloopDump" and ev["type"] == "Warning"
    assert ev["message"].startswith("traceloop recorded container app: pod-restart (Completed")
    assert ev["message"].endswith(f"dump: {dump}")


def test_nonzero_exit_is_one_dump_with_both_views(
    runc: Runc, tmp_path: Path, kube: FakeKube
) -> None:
    pod = pod_with(kube, "api", "api-1")
    with kube_daemon(runc, tmp_path, kube) as d:
        res = runc.run(["/bin/sh", "-c", "cat /marker-api; exit 3"], name="api-1")
        assert res.returncode == 3
        [dump] = d.wait_dumps(1, timeout=30)
        wait_until(lambda: len(kube.events("shop")) == 1, 30, "the dump's Event")
        # Then the kubelet reports the restart: the same crash, already dumped.
        kube.update_pod(
            "shop",
            "api",
            lambda p: restart_container(
                p, "app", "containerd://api-2", exit_code=3, reason="Error"
            ),
        )
        wait_until(lambda: len(kube.events("shop")) == 2, 30, "the Kubernetes view's Event")
        assert d.dumps() == [dump]  # the late trigger was handled: no second dump
        assert not any("Traceback" in line for line in d.log)
    header, recs = read(dump)
    kinds = {(t["reason"], t["source"]) for t in header["triggers"]}
    assert ("nonzero-exit", "kernel") in kinds
    assert header["pod"]["name"] == "api" and header["pod"]["namespace"] == "shop"
    assert header["pod"]["container"] == "app" and header["pod"]["container_id"] == "api-1"
    assert header["pod"]["uid"] == pod["metadata"]["uid"]
    assert b"/marker-api" in paths(recs)
    events = sorted(kube.events("shop"), key=lambda e: e["metadata"]["creationTimestamp"])
    assert all(e["involvedObject"]["uid"] == pod["metadata"]["uid"] for e in events)
    messages = sorted(e["message"] for e in events)
    assert messages[0].startswith("traceloop recorded container app: nonzero-exit (exit 3")
    assert messages[0].endswith(f"dump: {dump}")
    assert messages[1] == (
        "traceloop: Kubernetes reports pod-restart (Error, exit 3) of "
        f"container app; its dump: {dump}"
    )


def test_opt_out_and_buffers_per_namespace_and_pod(
    runc: Runc, tmp_path: Path, kube: FakeKube
) -> None:
    kube.create_pod(
        make_pod(
            "shop",
            "shy",
            "node1",
            [("app", "busybox", "containerd://shy-1")],
            annotations={"traceloop.io/record": "false"},
        )
    )
    kube.create_pod(
        make_pod(
            "shop",
            "quiet",
            "node1",
            [("app", "busybox", "containerd://q-1")],
            annotations={"traceloop.io/buffers": "false"},
        )
    )
    kube.create_pod(make_pod("vault", "v", "node1", [("app", "busybox", "containerd://v-1")]))
    kube.create_pod(make_pod("shop", "loud", "node1", [("app", "busybox", "containerd://l-1")]))
    script = "echo SECRET-TOKEN-$(hostname); cat /marker; exit 3"
    with kube_daemon(runc, tmp_path, kube, "--kube-no-buffers-namespaces", "vault") as d:
        for name in ("shy-1", "q-1", "v-1", "l-1"):
            assert runc.run(["/bin/sh", "-c", script], name=name).returncode == 3
        dumps = d.wait_dumps(3, timeout=30)  # the opted-out pod's crash came first
        assert any("not dumped" in line and "shy-1" in line for line in d.log)
    by_pod = {read(p)[0]["pod"]["name"]: read(p) for p in dumps}
    assert sorted(by_pod) == ["loud", "quiet", "v"]
    for pod, (header, recs) in by_pod.items():
        data = b"".join(c[2] for r in recs for c in r[CAPS])
        assert b"/marker" in data  # paths are always captured
        leaked = b"SECRET-TOKEN" in data
        assert leaked == (pod == "loud"), pod
        assert header["recorder"]["buffers"] == (pod == "loud")


def test_the_pods_sandbox_is_not_recorded(runc: Any, tmp_path: Path, kube: FakeKube) -> None:
    # As a CRI runtime lays a pod out: the sandbox (pause) container first, then
    # the app, each in a container cgroup of its own in the pod's cgroup.
    uid = kube.create_pod(make_pod("shop", "sbx", "node1", [("app", "busybox:1.36", "")]))[
        "metadata"
    ]["uid"]
    pod_cgroup = f"kubepods/pod{uid}"
    with kube_daemon(runc, tmp_path, kube) as d:
        _, sandbox = runc.start(["/bin/sleep", "120"], "sandbox-1", f"{pod_cgroup}/sandbox-1")
        wait_recorded(d, "sandbox-1")
        _, app = runc.start(
            ["/bin/sh", "-c", "while true; do cat /marker-app; sleep 0.1; done"],
            "app-1", f"{pod_cgroup}/app-1",
        )  # fmt: skip
        wait_recorded(d, "app-1")
        # The kubelet reports the app's ID (never the sandbox's).
        kube.update_pod("shop", "sbx", lambda p: report(p, "containerd://app-1"))
        wait_until(
            lambda: any("not recording container" in x and "sandbox-1" in x for x in d.log),
            30, "the sandbox left out",
        )  # fmt: skip
        # Both die of SIGKILL, a fatal signal: only the app's end is a crash recorded.
        for name, proc in (("sandbox-1", sandbox), ("app-1", app)):
            runc.kill(name)
            proc.wait(30)
        [dump] = d.wait_dumps(1, timeout=30)
        time.sleep(2)  # a dump of the sandbox would show up here
        assert d.dumps() == [dump]
    header, recs = read(dump)
    assert header["container"]["name"] == "app-1" and header["pod"]["name"] == "sbx"
    assert b"/marker-app" in paths(recs)


def report(pod: dict[str, Any], container_id: str) -> dict[str, Any]:
    pod["status"]["containerStatuses"][0]["containerID"] = container_id
    return pod
