"""Pure Kubernetes logic: label selectors, pod parsing, restart diffs, selection,
the dump header's pod map, Events, and finding a container's cgroup by ID."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kube_server import make_pod, restart_container

from sidecar.cli import discovery as discovery_cli
from sidecar.host import discovery
from sidecar.kube.events import describe_trigger, dump_message, event_body
from sidecar.kube.meta import PodMeta, Selection, parse_pod
from sidecar.kube.selector import parse
from sidecar.model.containers import split_container_id
from sidecar.model.trigger import Trigger
from triggers.kube import restart_trigger, restarts

A, B, C = "a" * 64, "b" * 64, "c" * 64


def pod(**kw: Any) -> dict[str, Any]:
    p = make_pod(
        "shop",
        "web-1",
        "node1",
        [("app", "nginx:1.27", f"containerd://{A}"), ("log", "fluent", f"containerd://{C}")],
        **kw,
    )
    p["metadata"].update(uid="u-1", resourceVersion="7")
    return p


# ---- label selectors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web", {"app": "db"}, False),
        ("app!=web", {}, True),  # != matches an absent label, as in Kubernetes
        ("app!=web", {"app": "web"}, False),
        ("tier in (a, b)", {"tier": "b"}, True),
        ("tier in (a,b)", {}, False),
        ("tier notin (a,b)", {}, True),
        ("tier notin (a,b)", {"tier": "a"}, False),
        ("canary", {"canary": ""}, True),
        ("!canary", {"canary": "x"}, False),
        ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "a"}, True),
        ("app=web,tier in (a,b),!canary", {"app": "web", "tier": "c"}, False),
        ("example.com/team=x", {"example.com/team": "x"}, True),
    ],
)
def test_label_selector(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse(text).matches(labels) is expected


@pytest.mark.parametrize("bad", ["app=web,", "a b", "=x", "app in (a", "app=we b", "-x=1"])
def test_label_selector_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="label selector"):
        parse(bad)


# ---- pods -------------------------------------------------------------------------------


def test_split_container_id() -> None:
    assert split_container_id(f"containerd://{A}") == ("containerd", A)
    assert split_container_id("cri-o://abc") == ("cri-o", "abc")
    assert split_container_id("docker://abc") == ("docker", "abc")
    assert split_container_id("abc") == ("", "abc")


def test_parse_pod_keeps_what_dumps_need_and_nothing_secret() -> None:
    raw = pod(
        labels={"app": "web"},
        annotations={
            "traceloop.io/record": "true",
            "kubectl.kubernetes.io/last-applied-configuration": '{"env":"PASSWORD=x"}',
        },
    )
    restart_container(raw, "app", f"containerd://{B}", exit_code=139, reason="Error", signal=11)
    p = parse_pod(raw)
    assert (p.uid, p.namespace, p.name, p.node, p.resource_version) == (
        "u-1",
        "shop",
        "web-1",
        "node1",
        raw["metadata"]["resourceVersion"],
    )
    assert p.labels == {"app": "web"} and p.record and p.buffers
    app = p.container("app")
    assert app is not None
    assert (app.container_id, app.runtime, app.image, app.restart_count) == (
        B,
        "containerd",
        "nginx:1.27",
        1,
    )
    assert app.previous_id == A
    term = app.last_terminated or {}
    assert term["exitCode"] == 139 and term["reason"] == "Error" and term["signal"] == 11
    assert "message" not in term  # a termination log can hold anything
    assert "PASSWORD" not in repr(p)


def test_parse_pod_times_are_spelled_one_way() -> None:
    raw = pod()
    restart_container(raw, "app", f"containerd://{B}")
    term = raw["status"]["containerStatuses"][0]["lastState"]["terminated"]
    term["startedAt"] = "2024-05-01T10:00:00+00:00"  # as the client's models give it back
    term["finishedAt"] = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
    t = parse_pod(raw).containers[0].last_terminated or {}
    assert t["startedAt"] == "2024-05-01T10:00:00Z"
    assert t["finishedAt"] == "2024-05-01T10:00:05Z"


def test_opt_out_annotations() -> None:
    p = parse_pod(
        pod(annotations={"traceloop.io/record": "False", "traceloop.io/buffers": "false"})
    )
    assert not p.record and not p.buffers
    assert not Selection().wants(p)
    assert not Selection().buffers_allowed(p)


def test_pending_pod_without_statuses() -> None:
    raw = pod()
    del raw["status"]["containerStatuses"]
    assert parse_pod(raw).containers == ()


# ---- restart diffs ----------------------------------------------------------------------


def restarted(raw: dict[str, Any], container: str = "app", new: str = B, **kw: Any) -> Any:
    restart_container(raw, container, f"containerd://{new}", **kw)
    return parse_pod(raw)


def test_restart_count_rise_is_a_restart() -> None:
    raw = pod()
    old = parse_pod(raw)
    new = restarted(raw, exit_code=137, reason="OOMKilled")
    [r] = restarts(old, new, new_pod_counts=False)
    assert (r.namespace, r.pod, r.uid, r.node, r.container) == (
        "shop",
        "web-1",
        "u-1",
        "node1",
        "app",
    )
    assert (r.container_id, r.previous_container_id, r.image) == (B, A, "nginx:1.27")
    assert (r.restart_count, r.missed) == (1, 0)
    assert r.terminated["reason"] == "OOMKilled" and r.terminated["exitCode"] == 137
    assert r.meta().container_id == A  # the dump is about the incarnation that ended
    assert restarts(new, new, new_pod_counts=True) == []


def test_several_restarts_between_views_are_one_with_missed() -> None:
    raw = pod()
    old = parse_pod(raw)
    restarted(raw, new=B)
    new = restarted(raw, new=C)
    [r] = restarts(old, new, new_pod_counts=False)
    assert (r.restart_count, r.missed, r.previous_container_id) == (2, 1, B)
    assert restart_trigger(r).detail["missedRestarts"] == 1


def test_unknown_pod_counts_only_after_first_sync() -> None:
    raw = pod()
    new = restarted(raw)
    assert restarts(None, new, new_pod_counts=False) == []
    [r] = restarts(None, new, new_pod_counts=True)
    assert r.restart_count == 1


def test_restart_count_going_down_is_no_restart() -> None:
    raw = pod()
    old = restarted(raw)
    raw["status"]["containerStatuses"][0]["restartCount"] = 0
    assert restarts(old, parse_pod(raw), new_pod_counts=True) == []


def test_status_filled_in_late_counts_from_zero() -> None:
    raw = pod()
    bare = dict(raw, status={"phase": "Pending"})
    assert restarts(parse_pod(bare), restarted(raw), new_pod_counts=False)[0].restart_count == 1


def test_init_container_restart() -> None:
    raw = pod(init_containers=[("setup", "busybox", f"containerd://{C}")])
    old = parse_pod(raw)
    [r] = restarts(old, restarted(raw, "setup", "d" * 64), new_pod_counts=False)
    assert r.container == "setup" and r.previous_container_id == C


def test_restart_trigger() -> None:
    raw = pod()
    old = parse_pod(raw)
    [r] = restarts(
        old, restarted(raw, exit_code=139, reason="Error", signal=11), new_pod_counts=False
    )
    t = restart_trigger(r)
    assert (t.reason, t.source, t.exit_code, t.signal) == (
        "pod-restart",
        "kubernetes",
        139,
        "SIGSEGV",
    )
    assert t.time == r.terminated["finishedAt"]
    assert t.detail == {**r.terminated, "restartCount": 1}
    wire = t.to_wire()
    assert wire["detail"]["reason"] == "Error" and "message" not in wire["detail"]


def test_restart_key_differs_per_incarnation() -> None:
    raw = pod()
    old = parse_pod(raw)
    first = restarted(raw, new=B)
    [r1] = restarts(old, first, new_pod_counts=False)
    raw["status"]["containerStatuses"][0]["restartCount"] = 0  # kubelet lost its state
    reset = parse_pod(raw)
    [r2] = restarts(reset, restarted(raw, new=C), new_pod_counts=False)
    assert r1.restart_count == r2.restart_count == 1
    assert r1.key != r2.key


# ---- selection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(), True),
        (Selection(namespaces=frozenset({"shop"})), True),
        (Selection(namespaces=frozenset({"other"})), False),
        (Selection(exclude_namespaces=frozenset({"shop"})), False),
        (Selection(selector=parse("app=web")), True),
        (Selection(selector=parse("app!=web")), False),
    ],
)
def test_selection(selection: Selection, expected: bool) -> None:
    assert selection.wants(parse_pod(pod(labels={"app": "web"}))) is expected


def test_buffers_per_namespace() -> None:
    p = parse_pod(pod())
    assert Selection().buffers_allowed(p)
    assert not Selection(no_buffer_namespaces=frozenset({"shop"})).buffers_allowed(p)
    assert Selection(no_buffer_namespaces=frozenset({"other"})).buffers_allowed(p)


def test_pod_header_has_the_documented_keys() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "dump-format.md").read_text()
    line = next(ln for ln in doc.splitlines() if ln.startswith("| `pod` |"))
    header = PodMeta("n", "ns", "p", "u", "c", "id", "img").to_header()
    for key in header:
        assert f"`{key}`" in line
    assert header == {
        "node": "n",
        "namespace": "ns",
        "name": "p",
        "uid": "u",
        "container": "c",
        "container_id": "id",
        "image": "img",
    }


# ---- events -----------------------------------------------------------------------------


META = PodMeta("node1", "shop", "web-1", "u-1", "app", A, "nginx:1.27")


def test_event_body() -> None:
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    ev = event_body(META, "hello", host="fallback", now=now)
    assert ev["metadata"] == {"name": f"web-1.{int(now.timestamp() * 1e9):x}", "namespace": "shop"}
    assert ev["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "namespace": "shop",
        "name": "web-1",
        "uid": "u-1",
        "fieldPath": "spec.containers{app}",
    }
    assert (ev["reason"], ev["type"], ev["message"]) == ("TraceloopDump", "Warning", "hello")
    assert ev["source"] == {"component": "traceloop", "host": "node1"}
    assert ev["reportingComponent"] == "traceloop"
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2024-05-01T10:00:00Z"


def test_dump_message() -> None:
    kernel = Trigger("fatal-signal", "kernel", 1, "t", pid=42, comm="app", signal="SIGSEGV")
    kube = Trigger(
        "pod-restart",
        "kubernetes",
        0,
        "t",
        exit_code=139,
        detail={"reason": "Error", "exitCode": 139},
    )
    assert describe_trigger(kernel) == "fatal-signal (SIGSEGV, pid 42 app)"
    assert describe_trigger(kube) == "pod-restart (Error, exit 139)"
    msg = dump_message([kernel, kube], "app", "s3://b/k.msgpack")
    assert msg == (
        "traceloop recorded container app: fatal-signal (SIGSEGV, pid 42 app), "
        "pod-restart (Error, exit 139); dump: s3://b/k.msgpack"
    )
    assert len(dump_message([kernel], "app", "x" * 5000)) == 1024


# ---- discovery --------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    uid = "1f2e3d4c-0000-1111-2222-333344445555"
    u = uid.replace("-", "_")
    dirs = [
        f"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/"
        f"cri-containerd-{A}.scope",
        f"kubepods.slice/kubepods-pod{u}.slice/crio-conmon-{B}.scope",
        f"kubepods.slice/kubepods-pod{u}.slice/crio-{B}.scope",
        f"kubepods/besteffort/pod{uid}/{C}",
        f"kubepods/besteffort/pod{uid}/{C}/nested-{C}",
        "system.slice/docker-" + "e" * 64 + ".scope",
        "runc-tests/t-1",
        "runc-tests/t-10",
    ]
    for d in dirs:
        (tmp_path / d).mkdir(parents=True)
    return tmp_path


def test_find_pod_cgroup_dir(tree: Path) -> None:
    uid = "1f2e3d4c-0000-1111-2222-333344445555"
    found = discovery.find_pod_cgroup_dir(tree, uid)
    assert found is not None and found.name.endswith(".slice") and "pod1f2e3d4c_" in found.name
    assert discovery.find_pod_cgroup_dir(tree, str(uuid.uuid4())) is None


def test_pod_cgroup_command(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uid = "1f2e3d4c-0000-1111-2222-333344445555"
    assert discovery_cli.main(["pod-cgroup", uid, str(tree)]) == 0
    assert capsys.readouterr().out.strip() == str(discovery.find_pod_cgroup_dir(tree, uid))
    assert discovery_cli.main(["pod-cgroup", str(uuid.uuid4()), str(tree)]) == 1
    assert "no cgroup of pod" in capsys.readouterr().err
