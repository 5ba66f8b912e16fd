"""deploy/ renders and validates offline: kustomize output and the sidecar example
against the Kubernetes schemas (kubernetes-validate), the daemon's arguments against
its real command line, the Dockerfile against the repository (the wheel it installs is
built here from the same build context), and the image's kernel headers against bcc."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import docker.utils.build
import kubernetes_validate
import pytest
import yaml

from sidecar.cli.main import build_parser
from sidecar.kernel.layout import Settings

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
# The venv running the tests: host-setup.sh installs kubectl (and kustomize) there.
SCRIPTS = Path(sysconfig.get_path("scripts"))
# 1.30: the oldest release with securityContext.appArmorProfile (native sidecars, the
# sidecar example's, need 1.29); and the newest schema here.
VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
CAPS = {"BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE"}
# Custom resources: kubernetes-validate has no schema for them; checked by hand below.
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = SCRIPTS / "kubectl"
    # Not a skip: without kubectl nothing here renders, and nothing is tested.
    assert kubectl.is_file(), f"{kubectl} missing: run deploy/host-setup.sh (test extra)"
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
def servicemonitor() -> list[dict[str, Any]]:
    return kustomize(KUBE / "overlays" / "servicemonitor")


@pytest.fixture(scope="module")
def sidecar() -> list[dict[str, Any]]:
    return load(KUBE / "examples" / "sidecar-pod.yaml")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("which", ["base", "s3", "servicemonitor", "sidecar"])
def test_every_object_validates(which: str, version: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(which)
    assert objs
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) in CRDS:
            continue
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
        "ResourceQuota",
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


def host_paths(spec: dict[str, Any], c: dict[str, Any]) -> dict[str, str | None]:
    """mountPath -> the host path mounted there (None: not a hostPath volume)."""
    volumes = {v["name"]: v for v in spec["volumes"]}
    return {
        m["mountPath"]: volumes[m["name"]].get("hostPath", {}).get("path")
        for m in c["volumeMounts"]
    }


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
    host = host_paths(spec, c)
    for path in (
        "/sys/kernel/tracing",
        "/sys/kernel/debug",
        "/sys/fs/cgroup",
        "/var/lib/traceloop",
    ):
        assert host[path] == path, path
    for path in ("/sys/kernel/tracing", "/sys/fs/cgroup"):
        assert mounts[path].get("readOnly") is True, path
    assert not mounts["/var/lib/traceloop"].get("readOnly")
    res = c["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    assert annotations["traceloop.io/record"] == "false"


def test_daemonset_runs_on_every_linux_node_and_is_evicted_last(
    base: list[dict[str, Any]],
) -> None:
    [ds] = by_kind(base, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    # Where critical priorities are admitted only under a quota for them (GKE), the
    # namespace has one that covers the DaemonSet's class.
    [quota] = by_kind(base, "ResourceQuota")
    assert quota["metadata"]["namespace"] == ds["metadata"]["namespace"]
    [scope] = quota["spec"]["scopeSelector"]["matchExpressions"]
    assert scope["scopeName"] == "PriorityClass" and scope["operator"] == "In"
    assert spec["priorityClassName"] in scope["values"]
    assert int(quota["spec"]["hard"]["pods"]) >= 5000  # a big cluster's node count


def test_no_kernel_headers_from_the_node(
    base: list[dict[str, Any]], sidecar: list[dict[str, Any]]
) -> None:
    """The image carries the headers (deploy/Dockerfile): nodes need none."""
    [ds] = by_kind(base, "DaemonSet")
    [pod] = by_kind(sidecar, "Pod")
    specs = [(ds["spec"]["template"]["spec"], container(ds))]
    specs.append((pod["spec"], recorder(pod)))
    for spec, c in specs:
        for mount, host in host_paths(spec, c).items():
            for path in ("/lib/modules", "/usr/src"):
                assert not mount.startswith(path) and not (host or "").startswith(path)
        assert "BCC_KERNEL_SOURCE" not in {e["name"] for e in c.get("env", [])}


def metrics_port(c: dict[str, Any]) -> int:
    [port] = [p["containerPort"] for p in c["ports"] if p["name"] == "metrics"]
    assert isinstance(port, int)
    return port


def test_metrics_are_served_where_prometheus_looks(base: list[dict[str, Any]]) -> None:
    [ds] = by_kind(base, "DaemonSet")
    c = container(ds)
    args = build_parser().parse_args(daemon_argv(base, c))
    host, _, port = args.metrics_addr.rpartition(":")
    assert host in ("", "0.0.0.0")  # every address: the kubelet and Prometheus come from outside
    assert int(port) == metrics_port(c)
    annotations = ds["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == port
    assert annotations["prometheus.io/path"] == "/metrics"
    # The probes ask the same port, by name.
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == "metrics", probe


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_servicemonitor_overlay_scrapes_every_recorder(
    servicemonitor: list[dict[str, Any]],
) -> None:
    # What kubernetes-validate cannot check (a CRD): the chain ServiceMonitor ->
    # Service -> pods -> container port, by the names and labels each one uses.
    [sm] = by_kind(servicemonitor, "ServiceMonitor")
    [svc] = by_kind(servicemonitor, "Service")
    [ds] = by_kind(servicemonitor, "DaemonSet")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(sm["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
    assert set(sm["spec"]["selector"]) == {"matchLabels"}
    assert labels_match(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"])
    svc_ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert sm["spec"]["endpoints"]
    for ep in sm["spec"]["endpoints"]:
        assert set(ep) <= {"port", "path", "interval", "scrapeTimeout", "relabelings"}
        assert ep["port"] in svc_ports and ep["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", ep["interval"])
        for r in ep.get("relabelings", []):
            assert set(r) <= {"sourceLabels", "targetLabel", "action", "regex", "replacement"}
    # The Service reaches the DaemonSet's pods, on their metrics port.
    assert svc["spec"]["clusterIP"] == "None"  # headless: every pod is a target
    assert svc["metadata"]["namespace"] == ds["metadata"]["namespace"]
    assert labels_match(svc["spec"]["selector"], ds["spec"]["template"]["metadata"]["labels"])
    c = container(ds)
    target = svc_ports["metrics"]["targetPort"]
    assert target == "metrics" or target == metrics_port(c)
    assert "metrics" in {p["name"] for p in c["ports"]}


def test_servicemonitor_files_stand_alone(servicemonitor: list[dict[str, Any]]) -> None:
    """Added with `kubectl apply -f` beside another overlay, the two files give the
    same objects as the overlay renders."""
    here = KUBE / "overlays" / "servicemonitor"
    files = load(here / "service.yaml") + load(here / "servicemonitor.yaml")
    rendered = [o for o in servicemonitor if o["kind"] in ("Service", "ServiceMonitor")]
    assert sorted(files, key=lambda o: str(o["kind"])) == sorted(
        rendered, key=lambda o: str(o["kind"])
    )


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


@pytest.mark.parametrize("which", ["base", "s3", "servicemonitor"])
def test_daemon_accepts_its_arguments(which: str, request: pytest.FixtureRequest) -> None:
    objs = request.getfixturevalue(which)
    [ds] = by_kind(objs, "DaemonSet")
    args = build_parser().parse_args(daemon_argv(objs, container(ds)))
    assert args.kubernetes == "on" and args.metrics_addr == "0.0.0.0:9102"
    assert args.node_name == "node-a"
    assert args.kube_exclude_namespaces == {"traceloop"}
    sinks = args.sink
    assert sinks[0] == "/var/lib/traceloop/dumps"
    if which == "s3":
        assert sinks[1].startswith("s3://")


def mebibytes(quantity: str) -> int:
    """A Kubernetes memory quantity (Mi, Gi) in MiB."""
    m = re.fullmatch(r"(\d+)(Mi|Gi)", quantity)
    assert m, quantity
    return int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1)


def test_memory_is_the_node_budget_and_the_limits_hold_it(base: list[dict[str, Any]]) -> None:
    """--memory is the knob (issue 15): the manifest leaves the container count to the
    budget (1,000 and more containers at the default), and the container's memory
    request and limit hold the budget's maps plus bcc's compiler at start-up."""
    [ds] = by_kind(base, "DaemonSet")
    c = container(ds)
    args = build_parser().parse_args(daemon_argv(base, c))
    assert args.memory == 128 * 1024 * 1024
    layout = Settings(memory=args.memory, slots=args.slots, containers=args.max_containers)
    assert layout.containers >= 1000
    compiler = 200
    res = c["resources"]
    assert mebibytes(res["requests"]["memory"]) >= args.memory // 2**20 + compiler
    assert mebibytes(res["limits"]["memory"]) >= mebibytes(res["requests"]["memory"])


def test_s3_overlay_takes_credentials_from_a_secret(s3: list[dict[str, Any]]) -> None:
    [ds] = by_kind(s3, "DaemonSet")
    c = container(ds)
    # Optional: with IRSA / Pod Identity there is no Secret, and the pod must still start.
    assert {"secretRef": {"name": "traceloop-s3", "optional": True}} in c["envFrom"]
    [cm] = by_kind(s3, "ConfigMap")
    assert not any("SECRET" in k or "KEY_ID" in k for k in cm["data"])
    assert not any("AWS_SECRET" in a for a in c["args"])
    assert by_kind(s3, "Secret") == []  # referenced, never shipped


def recorder(pod: dict[str, Any]) -> dict[str, Any]:
    cs: list[dict[str, Any]] = pod["spec"].get("initContainers", [])
    [c] = [c for c in cs if c["name"] == "traceloop"]
    return c


def test_sidecar_example(sidecar: list[dict[str, Any]]) -> None:
    [pod] = by_kind(sidecar, "Pod")
    spec = pod["spec"]
    assert spec["shareProcessNamespace"] is True
    c = recorder(pod)
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
    assert 'python -m sidecar.cli.discovery pod-cgroup "$POD_UID"' in script
    daemon = shlex.split(script.split("exec ", 1)[1])
    assert daemon[:2] == ["traceloop", "daemon"]
    values = {
        "$root": "/sys/fs/cgroup/kubepods/podX",
        "$NODE_NAME": "node-a",
        "$POD_NAMESPACE/$POD_NAME": "shop/crashy",
    }
    args = build_parser().parse_args(["daemon", *(values.get(a, a) for a in daemon[2:])])
    assert args.kube_pod == ("shop", "crashy") and args.kubernetes == "on"
    assert int(args.metrics_addr.rpartition(":")[2]) == metrics_port(c)


def test_sidecar_is_native_and_records_before_the_app_starts(
    sidecar: list[dict[str, Any]],
) -> None:
    [pod] = by_kind(sidecar, "Pod")
    c = recorder(pod)
    # A native sidecar: an init container that keeps running beside the containers.
    assert c["restartPolicy"] == "Always"
    assert "traceloop" not in {x["name"] for x in pod["spec"]["containers"]}
    assert [x["name"] for x in pod["spec"]["containers"]] == ["app"]
    # The containers start once its startup probe succeeds: /readyz answers 200 only
    # once recording has started (docs/daemon.md).
    assert c["startupProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    probe = c["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 120  # bcc compiles first
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}


def build_context() -> set[str]:
    """The files `docker build -f deploy/Dockerfile .` sends: the repository less what
    deploy/Dockerfile.dockerignore excludes (docker-py's implementation of the rules)."""
    lines = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.strip().startswith("#")]
    paths: set[str] = docker.utils.build.exclude_paths(str(ROOT), patterns)
    return {p for p in paths if (ROOT / p).is_file()}


def test_dockerfile_matches_the_repository() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM debian:bookworm-slim$", text, re.M)
    assert "python3-bpfcc" in text and "python3-venv" in text
    assert "pip install bcc" not in text  # the PyPI "bcc" is another project
    assert 'ln -s /usr/lib/python3/dist-packages/bcc "$site/bcc"' in text
    # The package is installed as a wheel built from the whole build context (the BPF
    # program is package data), not from hand-picked directories.
    assert re.findall(r"^COPY (.+)$", text, re.M) == [". /src/"]
    assert "pip install --no-cache-dir /src " in text
    assert "/usr/share/traceloop" not in text and "TRACELOOP_BPF_DIR" not in text
    context = build_context()
    for used in re.findall(r"(?<!\w)/src/(\S+)", text):
        assert used in context, f"the Dockerfile uses /src/{used}, not in the build context"
    for needed in ("pyproject.toml", "README.md", "LICENSE"):
        assert needed in context, needed
    assert re.search(r'^ENTRYPOINT \["traceloop", "daemon"\]$', text, re.M)


def test_dockerfile_ships_kernel_headers_for_bcc() -> None:
    text = DOCKERFILE.read_text()
    # Debian's headers of the image's architecture, merged into the tree bcc is told of.
    assert '"linux-headers-$(dpkg --print-architecture)"' in text
    [dest] = re.findall(r"/src/deploy/kernel-headers\.sh merge (\S+)", text)
    [env] = re.findall(r"^ENV BCC_KERNEL_SOURCE=(\S+)", text, re.M)
    assert env == dest
    # libbcc reads it itself (src/cc/frontends/clang/loader.cc): check that this bcc does.
    libbcc = next(Path("/usr/lib").glob("*/libbcc.so.0"))
    assert b"BCC_KERNEL_SOURCE\x00" in libbcc.read_bytes()


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip install /src` builds in the image, from the same build context.
    Without build isolation (no download): the venv's setuptools meets pyproject's
    build requirement."""
    tmp = tmp_path_factory.mktemp("image")
    src = tmp / "src"
    for rel in build_context():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    out = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("-w", str(tmp / "dist"), str(src)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    [wheel] = (tmp / "dist").glob("*.whl")
    return zipfile.ZipFile(wheel)


def test_the_image_gets_every_module(image_wheel: zipfile.ZipFile) -> None:
    names = set(image_wheel.namelist())
    for top in ("sidecar", "triggers"):
        for py in (ROOT / top).rglob("*.py"):
            rel = py.relative_to(ROOT).as_posix()
            assert rel in names, f"{rel} is not in the wheel the image installs"
    [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert re.search(r"^traceloop = ", image_wheel.read(entry_points).decode(), re.M)


def test_the_image_checks_modules_the_wheel_has(image_wheel: zipfile.ZipFile) -> None:
    # The image's build imports a few modules as a smoke test: each must be in the wheel
    # (bcc is Debian's), or the build fails after a module moves.
    [imports] = re.findall(r"python -c 'import ([\w., ]+)'", DOCKERFILE.read_text())
    names = set(image_wheel.namelist())
    for module in (m.strip() for m in imports.split(",")):
        if module == "bcc":
            continue
        path = module.replace(".", "/")
        assert {f"{path}.py", f"{path}/__init__.py"} & names, f"{module} is not in the wheel"


def test_the_wheel_carries_the_license(image_wheel: zipfile.ZipFile) -> None:
    names = image_wheel.namelist()
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "License-Expression: Apache-2.0" in image_wheel.read(metadata).decode()
    [license_file] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert image_wheel.read(license_file) == (ROOT / "LICENSE").read_bytes()


def test_the_wheel_carries_the_bpf_program(image_wheel: zipfile.ZipFile) -> None:
    # The image has no other copy: the loader finds it (and what it includes)
    # as package data.
    [source] = [p for p in (ROOT / "sidecar").rglob("*.bpf.c")]
    files = sorted(source.parent.iterdir())
    assert source.parent / "captures_more.h" in files
    for f in files:
        assert image_wheel.read(f.relative_to(ROOT).as_posix()) == f.read_bytes()


def test_license_is_apache_2() -> None:
    # The sha256 of the Apache Software Foundation's LICENSE-2.0.txt, unchanged.
    digest = hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest()
    assert digest == "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


@pytest.fixture(scope="module")
def image_headers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The merged header tree the Dockerfile makes, made here by the same script (this
    machine is the image's Debian release)."""
    dest = tmp_path_factory.mktemp("headers") / "kernel-headers"
    subprocess.run([ROOT / "deploy" / "kernel-headers.sh", "merge", str(dest)], check=True)
    return dest


def record_without_node_headers(
    tmp_path: Path, headers: Path | None, lib_modules: str
) -> subprocess.CompletedProcess[str]:
    """`traceloop record -- sh -c 'exit 3'` in a private mount namespace whose
    /lib/modules holds only what `lib_modules` (shell) makes: bcc cannot fall back to
    the machine's own header links there."""
    env = {k: v for k, v in os.environ.items() if k != "BCC_KERNEL_SOURCE"}
    if headers is not None:
        env["BCC_KERNEL_SOURCE"] = str(headers)
    # --require-recording: without it, record runs the command unrecorded when
    # the kernel side cannot load (exit 3 either way).
    record = [str(SCRIPTS / "traceloop"), "record", "--require-recording", "--out",
              str(tmp_path / "dumps")]  # fmt: skip
    record += ["--", "sh", "-c", "exit 3"]
    script = f"mount -t tmpfs none /lib/modules && {lib_modules} && exec {shlex.join(record)}"
    return subprocess.run(
        ["unshare", "-m", "bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


# The loader checks that /lib/modules/$(uname -r)/build exists before it asks bcc: an
# empty one gets past that check and gives bcc nothing to compile against.
EMPTY_BUILD = f"mkdir -p /lib/modules/{os.uname().release}/build"


@pytest.mark.bpf
def test_image_headers_compile_the_recorder(tmp_path: Path, image_headers: Path) -> None:
    run = record_without_node_headers(tmp_path, image_headers, EMPTY_BUILD)
    assert run.returncode == 3, run.stderr  # the command's own status: recorded
    assert len(list((tmp_path / "dumps").rglob("*.msgpack"))) == 1, run.stderr


@pytest.mark.bpf
def test_without_the_image_headers_bcc_finds_none(tmp_path: Path) -> None:
    # The test above can fail: without BCC_KERNEL_SOURCE the same run has no headers.
    run = record_without_node_headers(tmp_path, None, EMPTY_BUILD)
    assert run.returncode == 1 and "BPF" in run.stderr, run.stderr
    assert not (tmp_path / "dumps").exists()


@pytest.mark.bpf
def test_image_headers_need_no_lib_modules(tmp_path: Path, image_headers: Path) -> None:
    run = record_without_node_headers(tmp_path, image_headers, "true")
    assert run.returncode == 3, run.stderr
