"""deploy/ renders and validates offline: kustomize output and the sidecar example
against the Kubernetes schemas (kubernetes-validate), the daemon's arguments against
its real command line, and the Dockerfile against the repository."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from sidecar.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
# The oldest release with securityContext.appArmorProfile, and the newest schema here.
VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE"}


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    out = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(KUBE)


@pytest.fixture(scope="module")
def s3() -> list[dict[str, Any]]:
    return kustomize(KUBE / "overlays" / "s3")


@pytest.fixture(scope="module")
def sidecar() -> list[dict[str, Any]]:
    return load(KUBE / "examples" / "sidecar-pod.yaml")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("which", ["base", "s3", "sidecar"])
def test_every_object_validates(which: str, version: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(which)
    assert objs
    for obj in objs:
        # strict: an unknown or misspelt field is an error, not silently dropped
        kubernetes_validate.validate(obj, version, strict=True)


def test_validation_can_fail() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "x"},
        "spec": {"containers": [{"name": "c", "image": "i", "securityContxt": {}}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[-1], strict=True)


def test_base_objects(base: list[dict[str, Any]]) -> None:
    kinds = sorted(o["kind"] for o in base)
    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "DaemonSet",
        "Namespace",
        "ServiceAccount",
    ]
    assert all(o["metadata"].get("namespace", "traceloop") == "traceloop" for o in base)


def test_rbac_is_least_privilege(base: list[dict[str, Any]]) -> None:
    [role] = by_kind(base, "ClusterRole")
    rules = {
        (g, r): sorted(rule["verbs"])
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    assert rules == {("", "pods"): ["get", "list", "watch"], ("", "events"): ["create", "patch"]}
    [binding] = by_kind(base, "ClusterRoleBinding")
    [sa] = by_kind(base, "ServiceAccount")
    [ds] = by_kind(base, "DaemonSet")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "traceloop"}
    ]
    assert ds["spec"]["template"]["spec"]["serviceAccountName"] == sa["metadata"]["name"]


def container(ds: dict[str, Any], name: str = "traceloop") -> dict[str, Any]:
    return next(c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def test_daemonset(base: list[dict[str, Any]]) -> None:
    [ds] = by_kind(base, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    c = container(ds)
    assert spec["hostPID"] is True
    assert {"operator": "Exists"} in spec["tolerations"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    sc = c["securityContext"]
    assert not sc.get("privileged", False)
    assert set(sc["capabilities"]["add"]) == CAPS and sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    host = {path: volumes[m["name"]].get("hostPath", {}).get("path") for path, m in mounts.items()}
    for path in (
        "/sys/kernel/tracing",
        "/sys/kernel/debug",
        "/sys/fs/cgroup",
        "/lib/modules",
        "/usr/src",
        "/var/lib/traceloop",
    ):
        assert host[path] == path, path
    for path in ("/sys/kernel/tracing", "/sys/fs/cgroup", "/lib/modules", "/usr/src"):
        assert mounts[path].get("readOnly") is True, path
    assert not mounts["/var/lib/traceloop"].get("readOnly")
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    # The probes ask the port --metrics-addr serves.
    port = next(p for p in c["ports"] if p["name"] == "metrics")["containerPort"]
    assert f"--metrics-addr=:{port}" in c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    assert annotations["traceloop.io/record"] == "false"


def daemon_argv(objs: list[dict[str, Any]], c: dict[str, Any]) -> list[str]:
    """The container's args with $(VAR) expanded the way the kubelet does it."""
    values: dict[str, str] = {}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            [cm] = [
                o
                for o in by_kind(objs, "ConfigMap")
                if o["metadata"]["name"] == src["configMapRef"]["name"]
            ]
            values.update(cm["data"])
        else:
            values.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")  # the Secret
    for e in c.get("env", []):
        values[e["name"]] = e.get("value", "node-a")  # fieldRefs: some value

    def expand(arg: str) -> str:
        def one(m: re.Match[str]) -> str:
            assert m.group(1) in values, f"{arg}: $({m.group(1)}) is not defined"
            return values[m.group(1)]

        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, arg)

    return ["daemon", *(expand(a) for a in c["args"])]


@pytest.mark.parametrize("which", ["base", "s3"])
def test_daemon_accepts_its_arguments(which: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(which)
    [ds] = by_kind(objs, "DaemonSet")
    args = build_parser().parse_args(daemon_argv(objs, container(ds)))
    assert args.kubernetes == "on" and args.metrics_addr == ":9090"
    assert args.node_name == "node-a"
    assert args.kube_exclude_namespaces == {"traceloop"}
    sinks = args.sink
    assert sinks[0] == "/var/lib/traceloop/dumps"
    if which == "s3":
        assert sinks[1].startswith("s3://")


def test_s3_overlay_takes_credentials_from_a_secret(s3: list[dict[str, Any]]) -> None:
    [ds] = by_kind(s3, "DaemonSet")
    c = container(ds)
    assert {"secretRef": {"name": "traceloop-s3"}} in c["envFrom"]
    [cm] = by_kind(s3, "ConfigMap")
    assert not any("SECRET" in k or "KEY_ID" in k for k in cm["data"])
    assert not any("AWS_SECRET" in a for a in c["args"])
    assert by_kind(s3, "Secret") == []  # referenced, never shipped


def test_sidecar_example(sidecar: list[dict[str, Any]]) -> None:
    [pod] = by_kind(sidecar, "Pod")
    spec = pod["spec"]
    assert spec["shareProcessNamespace"] is True
    c = next(c for c in spec["containers"] if c["name"] == "traceloop")
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {
        "NODE_NAME": "spec.nodeName",
        "POD_NAME": "metadata.name",
        "POD_NAMESPACE": "metadata.namespace",
        "POD_UID": "metadata.uid",
    }
    assert set(c["securityContext"]["capabilities"]["add"]) == CAPS
    # Only its own namespace's pods, and it says which pod it is.
    assert by_kind(sidecar, "ClusterRole") == [] and len(by_kind(sidecar, "Role")) == 1
    script = c["args"][0].replace("$$(", "$(")  # the kubelet's escape for a literal $(
    assert '--kube-pod "$POD_NAMESPACE/$POD_NAME"' in script
    assert 'python -m sidecar.discovery pod-cgroup "$POD_UID"' in script
    daemon = shlex.split(script.split("exec ", 1)[1])
    assert daemon[:2] == ["traceloop", "daemon"]
    values = {
        "$root": "/sys/fs/cgroup/kubepods/podX",
        "$NODE_NAME": "node-a",
        "$POD_NAMESPACE/$POD_NAME": "shop/crashy",
    }
    args = build_parser().parse_args(["daemon", *(values.get(a, a) for a in daemon[2:])])
    assert args.kube_pod == ("shop", "crashy") and args.kubernetes == "on"


def test_dockerfile_matches_the_repository() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", text, re.M)
    assert "python3-bpfcc" in text and "python3-venv" in text
    assert "pip install bcc" not in text  # the PyPI "bcc" is another project
    assert 'ln -s /usr/lib/python3/dist-packages/bcc "$site/bcc"' in text
    for src in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in src.split():
            assert (ROOT / path).exists(), f"COPY {path}: not in the repository"
    # The BPF source goes where sidecar/kernel.py looks for it.
    [bpf_dest] = re.findall(r"^COPY bpf/ (\S+)$", text, re.M)
    assert f'Path("{bpf_dest.rstrip("/")}")' in (ROOT / "sidecar" / "kernel.py").read_text()
    assert re.search(r'^ENTRYPOINT \["traceloop", "daemon"\]$', text, re.M)
    ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().split()
    for path in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for p in path.split():
            assert f"!{p}" in ignore, f"{p} is copied but excluded from the build context"


def test_the_image_gets_every_module() -> None:
    """The image installs the package (not editable): every directory of modules must be
    a package pyproject.toml lists, or `traceloop` in the image misses it."""
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    for top in ("sidecar", "triggers"):
        for d in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if any(d.glob("*.py")):
                name = ".".join(d.relative_to(ROOT).parts)
                assert name in listed, f"{name} is not in [tool.setuptools] packages"


def test_license_is_apache_2() -> None:
    # The sha256 of the Apache Software Foundation's LICENSE-2.0.txt, unchanged.
    digest = hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest()
    assert digest == "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
