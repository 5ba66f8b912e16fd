"""`kubectl traceloop` (sidecar/cli/kubectl_plugin.py).

The stand-in API server cannot serve `kubectl exec` (a streamed, upgraded
connection), and kubectl will not send the token over its plain HTTP, so the
plugin's kubectl calls are replaced at their one seam (`Kubectl.run`) by
`Cluster`, which answers as kubectl would: `get pods -o json` with the pods
the stand-in API server itself serves, and `exec` by running the command here
with the recorder pod's TRACELOOP_SINK pointing at its node's dump directory,
as it would run in the pod. What runs is real: `traceloop ls --json`, `cat`,
the dumps. Real kubectl checks the command lines the plugin builds, and finds
the plugin in PATH."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kube_server import TOKEN, FakeKube, make_pod
from showutil import ROOT, TRACELOOP, pod_dump

from sidecar.cli.kubectl_plugin import Kubectl, main

NS, SELECTOR = "traceloop", "app.kubernetes.io/name=traceloop"


class Cluster:
    """kubectl, as far as the plugin uses it, over the stand-in API server."""

    def __init__(self, kube: FakeKube, sinks: dict[str, Path]) -> None:
        self.kube = kube
        self.sinks = sinks
        self.calls: list[list[str]] = []
        self.unreachable: set[str] = set()  # nodes whose kubelet does not answer
        self.short: set[str] = set()  # files `cat` stops short of

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(argv)
        assert argv[0] == "kubectl"
        i = 1
        while argv[i] in ("--kubeconfig", "--context"):
            i += 2
        verb, rest = argv[i], argv[i + 1 :]
        if verb == "get":
            return self._get(argv, rest)
        assert verb == "exec", argv
        return self._exec(argv, rest)

    def _done(
        self, argv: list[str], rc: int, out: bytes, err: bytes = b""
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(argv, rc, out, err)

    def _get(self, argv: list[str], rest: list[str]) -> subprocess.CompletedProcess[bytes]:
        assert rest[:2] == ["pods", "-n"] and rest[3] == "-l" and rest[5:] == ["-o", "json"]
        ns, selector = rest[2], rest[4]
        req = urllib.request.Request(
            f"{self.kube.url}/api/v1/namespaces/{ns}/pods?labelSelector={selector}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            items = json.load(r)["items"]
        # kubectl -o json prints a List of what the server sent.
        listed = {"apiVersion": "v1", "kind": "List", "items": items,
                  "metadata": {"resourceVersion": ""}}  # fmt: skip
        return self._done(argv, 0, json.dumps(listed, indent=4).encode())

    def _exec(self, argv: list[str], rest: list[str]) -> subprocess.CompletedProcess[bytes]:
        assert rest[0] == "-n" and rest[3] == "-c" and rest[5] == "--", argv
        ns, pod, container, cmd = rest[1], rest[2], rest[4], rest[6:]
        try:
            spec = self.kube.get_pod(ns, pod)["spec"]
        except KeyError:
            return self._done(
                argv, 1, b"", f'Error from server (NotFound): pods "{pod}" not found\n'.encode()
            )
        if container not in [c["name"] for c in spec["containers"]]:
            return self._done(
                argv, 1, b"", f"error: container {container} is not valid for pod {pod}\n".encode()
            )
        node = spec["nodeName"]
        if node in self.unreachable:
            return self._done(
                argv,
                1,
                b"",
                b"error: unable to upgrade connection: dial tcp 10.0.0.9:10250: i/o timeout\n",
            )
        exe = {"traceloop": TRACELOOP, "cat": "/bin/cat"}[cmd[0]]
        env = {**os.environ, "TRACELOOP_SINK": str(self.sinks[node])}
        r = subprocess.run([exe, *cmd[1:]], capture_output=True, env=env, timeout=60)
        out = r.stdout
        if cmd[0] == "cat" and Path(cmd[1]).name in self.short:
            out = out[: len(out) // 2]  # the connection dropped mid-copy
        return self._done(argv, r.returncode, out, r.stderr)


def recorder(kube: FakeKube, name: str, node: str, phase: str = "Running") -> None:
    pod = make_pod(NS, name, node, [("traceloop", "traceloop-sidecar", "containerd://" + name)],
                   labels={"app.kubernetes.io/name": "traceloop"})  # fmt: skip
    pod["status"]["phase"] = phase
    kube.create_pod(pod)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, dict[str, Path]]]:
    kube = FakeKube().start()
    try:
        sinks = {n: tmp_path / n / "dumps" for n in ("node-a", "node-b", "node-c")}
        made = {
            "web": pod_dump(sinks["node-a"], "shop_web_app", "shop", "web", "app",
                            "2026-11-25T10:00:01.000Z", "nonzero-exit", "node-a"),
            "api": pod_dump(sinks["node-a"], "shop_api_app", "shop", "api", "app",
                            "2026-11-25T12:00:03.000Z", "oom-kill", "node-a"),
            "dns": pod_dump(sinks["node-b"], "kube-system_dns_coredns", "kube-system", "dns",
                            "coredns", "2026-11-25T11:00:02.000Z", "fatal-signal", "node-b"),
        }  # fmt: skip
        recorder(kube, "traceloop-aaaaa", "node-a")
        recorder(kube, "traceloop-bbbbb", "node-b")
        recorder(kube, "traceloop-ccccc", "node-c", phase="Pending")
        # Another pod in the namespace that is not a recorder.
        kube.create_pod(make_pod(NS, "other", "node-a", [("x", "x", "containerd://o")]))
        yield Cluster(kube, sinks), made
    finally:
        kube.stop()


def plugin(c: Cluster, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["--context", "prod", *args], runner=c)
    out, err = capsys.readouterr()
    return status, out, err


def test_ls_lists_every_nodes_dumps_newest_first(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, made = cluster
    status, out, err = plugin(c, capsys, "ls")
    head, *rows = [line.split() for line in out.splitlines()]
    assert head == ["TIME", "REASON", "NODE", "POD", "CONTAINER", "SIZE", "NAME"]
    assert [r[-1] for r in rows] == [made[p].name for p in ("api", "dns", "web")]
    assert rows[1][:5] == ["2026-11-25T11:00:02.000Z", "fatal-signal", "node-b", "kube-system/dns",
                           "coredns"]  # fmt: skip
    # The Pending recorder's node could not be asked: said, and the status says so.
    assert err == "kubectl-traceloop: warning: node node-c: recorder traceloop-ccccc is Pending\n"
    assert status == 1
    # What kubectl was asked: the recorders by label, then each running one.
    assert c.calls[0] == ["kubectl", "--context", "prod", "get", "pods", "-n", NS, "-l",
                          SELECTOR, "-o", "json"]  # fmt: skip
    execs = sorted(x for x in c.calls if "exec" in x)
    assert execs == [
        ["kubectl", "--context", "prod", "exec", "-n", NS, pod, "-c", "traceloop", "--",
         "traceloop", "ls", "--json", "-n", "0"]
        for pod in ("traceloop-aaaaa", "traceloop-bbbbb")
    ]  # fmt: skip


def test_ls_filters_and_json(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, made = cluster
    _, out, _ = plugin(c, capsys, "ls", "--json", "-n", "shop", "--node", "node-a")
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["name"] for o in objs] == [made["api"].name, made["web"].name]
    assert objs[0]["recorder"] == "traceloop-aaaaa" and objs[0]["url"] == str(made["api"])
    assert objs[0]["size"] == made["api"].stat().st_size
    _, out, _ = plugin(c, capsys, "ls", "--container", "coredns")
    assert [line.split()[-1] for line in out.splitlines()[1:]] == [made["dns"].name]


def test_an_unreachable_node_is_named_and_the_others_listed(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, made = cluster
    c.unreachable.add("node-b")
    status, out, err = plugin(c, capsys, "ls")
    assert status == 1
    assert "warning: node node-b (traceloop-bbbbb): error: unable to upgrade connection" in err
    assert [line.split()[-1] for line in out.splitlines()[1:]] == [made["api"].name,
                                                                     made["web"].name]  # fmt: skip


def test_fetch_copies_the_dump_by_name(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    c, made = cluster
    here = tmp_path / "here"
    here.mkdir()
    status, _, err = plugin(c, capsys, "fetch", made["dns"].name, "-o", str(here))
    assert status == 0
    got = here / made["dns"].name
    assert got.read_bytes() == made["dns"].read_bytes()
    assert err.startswith(
        f"kubectl-traceloop: fetched {made['dns'].name} from node node-b to {got}"
    )
    assert ["exec", "-n", NS, "traceloop-bbbbb", "-c", "traceloop", "--", "cat",
            str(made["dns"])] == c.calls[-1][3:]  # fmt: skip
    status, _, err = plugin(c, capsys, "fetch", made["dns"].name, "-o", str(here))
    assert status == 2 and "exists (use --force" in err
    # By its ID too.
    status, _, _ = plugin(c, capsys, "fetch", "node-a-web", "-o", str(here / "by-id.msgpack"))
    assert status == 0 and (here / "by-id.msgpack").read_bytes() == made["web"].read_bytes()


def test_fetch_keeps_nothing_of_a_short_copy_or_an_unknown_name(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    c, made = cluster
    c.short.add(made["api"].name)
    status, _, err = plugin(c, capsys, "fetch", made["api"].name, "-o", str(tmp_path / "x"))
    assert status == 1 and "bytes of" in err and "not kept" in err
    assert not (tmp_path / "x").exists()
    status, _, err = plugin(c, capsys, "fetch", "no-such-dump.msgpack")
    assert status == 2
    # Not found: where it might be is said too.
    assert err == (
        "kubectl-traceloop: warning: node node-c: recorder traceloop-ccccc is Pending\n"
        "kubectl-traceloop: error: no dump named no-such-dump.msgpack "
        "(kubectl traceloop ls lists them)\n"
    )


def test_show_fetches_and_shows_here(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, made = cluster
    status, out, _ = plugin(c, capsys, "show", made["web"].name, "-o", "strace", "--last", "2")
    assert status == 0
    assert out.splitlines()[-1] == "+++ exited with 3 +++"
    status, out, _ = plugin(c, capsys, "show", made["web"].name, "--info")
    assert status == 0 and "shop" in out and "web" in out


def test_no_recorders_is_one_error_line(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, _ = cluster
    status, _, err = plugin(c, capsys, "--recorder-namespace", "elsewhere", "ls")
    assert status == 1 and len(err.splitlines()) == 1
    assert err.startswith("kubectl-traceloop: error: no recorder pods in namespace elsewhere")


def real_kubectl() -> str:
    found = [p for p in os.environ.get("PATH", "").split(":") if Path(p, "kubectl").is_file()]
    assert found, "kubectl is needed (deploy/host-setup.sh installs it)"
    return str(Path(found[0], "kubectl"))


def test_real_kubectl_accepts_the_plugins_command_lines(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    FakeKube().write_kubeconfig(kc)  # a server that is not running: nothing listens
    k = Kubectl(str(kc), "fake")
    for argv in (k.get_pods_argv(NS, SELECTOR),
                 k.exec_argv(NS, "traceloop-aaaaa", "traceloop", ["cat", "/x"])):  # fmt: skip
        r = subprocess.run([real_kubectl(), *argv[1:]], capture_output=True, text=True,
                           timeout=60)  # fmt: skip
        assert r.returncode == 1
        assert "connection refused" in r.stderr, r.stderr  # it got as far as the server
        assert "unknown" not in r.stderr and "Usage" not in r.stderr


def test_kubectl_finds_the_installed_plugin() -> None:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    r = subprocess.run([real_kubectl(), "traceloop", "--version"], capture_output=True,
                       text=True, env=env, timeout=60)  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "kubectl-traceloop 0.1.0\n")


def test_sink_option_and_one_sink_seen_from_several_recorders(
    cluster: tuple[Cluster, dict[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    c, made = cluster
    # As an S3 sink (or a shared volume) is: every recorder lists the same dumps.
    _, out, _ = plugin(c, capsys, "--sink", str(c.sinks["node-a"]), "ls")
    assert [line.split()[-1] for line in out.splitlines()[1:]] == [made["api"].name,
                                                                     made["web"].name]  # fmt: skip
    assert all(x[-1] == str(c.sinks["node-a"]) for x in c.calls if "exec" in x)
