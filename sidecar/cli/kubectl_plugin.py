"""`kubectl traceloop`: a cluster's dumps, from wherever kubectl works.

    kubectl traceloop ls [-n NAMESPACE] [--pod NAME] [--container NAME] [--node NAME] [--json]
    kubectl traceloop fetch NAME [-o PATH]
    kubectl traceloop show NAME [SHOW OPTIONS...]

The recorder pods (the DaemonSet's, found by their label) keep the dumps on
their nodes. `ls` asks every one of them, through `kubectl exec`, for
`traceloop ls --json` of its sink and lists the dumps of all nodes, newest
crash first; NAME is a dump's file name as `ls` shows it (or its ID). `fetch`
copies one out (`kubectl exec ... cat`), checks it is the whole dump, and
writes it atomically; `show` fetches it into a temporary directory and runs
`traceloop show` on it here. It needs kubectl and the right to list and exec
into pods in the recorders' namespace; nothing else in the cluster.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sidecar import __version__
from sidecar.cli.argtypes import count
from sidecar.cli.objects import dump_table, human_size, shown
from sidecar.dump.reader import DumpReader
from sidecar.model.errors import SinkError, TraceloopError, UsageError
from sidecar.sinks.listing import Listed, newest_first
from sidecar.sinks.local import atomic_write

Runner = Callable[[list[str]], "subprocess.CompletedProcess[bytes]"]


def run_kubectl(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise TraceloopError("kubectl not found in PATH (this is a kubectl plugin)") from None


def _said(r: subprocess.CompletedProcess[bytes]) -> str:
    """kubectl's first line of complaint, safe for a terminal."""
    lines = r.stderr.decode("utf-8", "replace").strip().splitlines()
    return shown(lines[0]) if lines else f"exit status {r.returncode}"


@dataclass(frozen=True)
class Recorder:
    pod: str
    node: str
    phase: str


@dataclass
class Kubectl:
    """Every call the plugin makes, as kubectl command lines: the seam tests
    replace `run` at."""

    kubeconfig: str | None = None
    context: str | None = None
    run: Runner = run_kubectl

    def base(self) -> list[str]:
        argv = ["kubectl"]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        return argv

    def get_pods_argv(self, namespace: str, selector: str) -> list[str]:
        return [*self.base(), "get", "pods", "-n", namespace, "-l", selector, "-o", "json"]

    def exec_argv(self, namespace: str, pod: str, container: str, cmd: Sequence[str]) -> list[str]:
        return [*self.base(), "exec", "-n", namespace, pod, "-c", container, "--", *cmd]

    def recorders(self, namespace: str, selector: str) -> list[Recorder]:
        r = self.run(self.get_pods_argv(namespace, selector))
        if r.returncode != 0:
            raise TraceloopError(f"kubectl get pods -n {namespace}: {_said(r)}")
        try:
            items = json.loads(r.stdout)["items"]
            return [
                Recorder(
                    str(p["metadata"]["name"]),
                    str((p.get("spec") or {}).get("nodeName") or "?"),
                    str((p.get("status") or {}).get("phase") or "Unknown"),
                )
                for p in items
            ]
        except (ValueError, KeyError, TypeError) as e:
            raise TraceloopError(f"kubectl get pods: unexpected output ({e})") from None

    def exec(
        self, namespace: str, pod: str, container: str, cmd: Sequence[str]
    ) -> subprocess.CompletedProcess[bytes]:
        return self.run(self.exec_argv(namespace, pod, container, cmd))


@dataclass
class Found:
    """A dump on a node, and the recorder pod that has it."""

    item: Listed
    recorder: Recorder

    @property
    def name(self) -> str:
        return self.item.url.rsplit("/", 1)[-1]


@dataclass
class Plugin:
    kubectl: Kubectl
    namespace: str
    selector: str
    container: str
    sink: str | None
    # What could not be asked (a node's recorder not running, kubectl exec
    # failing): `ls` says it; `fetch` and `show` only when the dump is not found.
    notes: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        self.notes.append(text)

    def say_notes(self) -> None:
        for text in self.notes:
            print(f"kubectl-traceloop: warning: {text}", file=sys.stderr)

    def _ls(self, rec: Recorder) -> tuple[Recorder, subprocess.CompletedProcess[bytes]]:
        cmd = ["traceloop", "ls", "--json", "-n", "0", *([self.sink] if self.sink else [])]
        return rec, self.kubectl.exec(self.namespace, rec.pod, self.container, cmd)

    def everything(self) -> list[Found]:
        recs = self.kubectl.recorders(self.namespace, self.selector)
        if not recs:
            raise TraceloopError(
                f"no recorder pods in namespace {self.namespace} with labels {self.selector} "
                "(is traceloop deployed? see --recorder-namespace and --recorder-selector)"
            )
        running = []
        for rec in recs:
            if rec.phase == "Running":
                running.append(rec)
            else:
                self.warn(
                    f"node {shown(rec.node)}: recorder {shown(rec.pod)} is {shown(rec.phase)}"
                )
        found: list[Found] = []
        with ThreadPoolExecutor(max_workers=8) as pool:
            for rec, r in pool.map(self._ls, running):
                if r.returncode != 0:
                    self.warn(f"node {shown(rec.node)} ({shown(rec.pod)}): {_said(r)}")
                found.extend(self._parse(rec, r.stdout))
        # One sink seen from several pods (an S3 sink) is listed once.
        unique = {f.item.url: f for f in found}
        items = newest_first([f.item for f in unique.values()], 0)
        by_url = {f.item.url: f for f in unique.values()}
        return [by_url[i.url] for i in items]

    def _parse(self, rec: Recorder, out: bytes) -> list[Found]:
        found = []
        for line in out.decode("utf-8", "replace").splitlines():
            try:
                obj = json.loads(line)
                found.append(Found(Listed(**obj), rec))
            except (ValueError, TypeError):
                self.warn(f"node {shown(rec.node)}: not a listing line: {shown(line[:100])}")
        return found

    def find(self, name: str) -> Found:
        matches = [f for f in self.everything() if name in (f.name, f.item.id)]
        if not matches:
            self.say_notes()
            raise UsageError(f"no dump named {shown(name)} (kubectl traceloop ls lists them)")
        if len({f.item.url for f in matches}) > 1:
            where = ", ".join(sorted(shown(f.recorder.node) for f in matches))
            raise UsageError(
                f"{shown(name)} names several dumps (nodes {where}): use the file name"
            )
        return matches[0]

    def fetch(self, found: Found, dest: Path | None) -> bytes:
        """The dump's bytes, checked; written atomically to `dest` if given."""
        rec = found.recorder
        r = self.kubectl.exec(self.namespace, rec.pod, self.container, ["cat", found.item.url])
        if r.returncode != 0:
            raise SinkError(f"fetching {shown(found.name)} from {shown(rec.pod)}: {_said(r)}")
        data = r.stdout
        if len(data) != found.item.size:
            raise SinkError(
                f"{shown(found.name)}: got {len(data)} bytes of {found.item.size}; not kept"
            )
        with DumpReader(io.BufferedReader(io.BytesIO(data)), found.name):  # type: ignore[arg-type]
            pass  # a header that reads: it is a dump
        if dest is not None:
            atomic_write(dest, lambda f: f.write(data))
        return data


def _filters(args: argparse.Namespace) -> Callable[[Found], bool]:
    def keep(f: Found) -> bool:
        i = f.item
        return (
            (not args.namespace or i.namespace in args.namespace)
            and (not args.pod or i.pod in args.pod)
            and (not args.container or i.container in args.container)
            and (not args.node or i.node in args.node or f.recorder.node in args.node)
        )

    return keep


def run_ls(plugin: Plugin, args: argparse.Namespace) -> int:
    found = [f for f in plugin.everything() if _filters(args)(f)]
    plugin.say_notes()
    if args.limit:
        found = found[: args.limit]
    if args.json:
        for f in found:
            obj = {**asdict(f.item), "name": f.name, "recorder": f.recorder.pod}
            # As `traceloop ls --json`: json escapes controls but not DEL.
            sys.stdout.write(json.dumps(obj).replace("\x7f", "\\u007f") + "\n")
    elif found:
        dump_table([f.item for f in found], sys.stdout, ("NAME", lambda i: i.url.rsplit("/")[-1]))
    else:
        print("kubectl-traceloop: no dumps", file=sys.stderr)
    return 1 if plugin.notes else 0


def run_fetch(plugin: Plugin, args: argparse.Namespace) -> int:
    found = plugin.find(args.name)
    if args.output == "-":
        sys.stdout.buffer.write(plugin.fetch(found, None))
        sys.stdout.buffer.flush()
        return 0
    dest = Path(args.output or found.name)
    if dest.is_dir():
        dest = dest / found.name
    if dest.exists() and not args.force:
        raise UsageError(f"fetch: {dest} exists (use --force to replace it)")
    plugin.fetch(found, dest)
    print(
        f"kubectl-traceloop: fetched {shown(found.name)} from node {shown(found.recorder.node)} "
        f"to {dest} ({human_size(found.item.size)})",
        file=sys.stderr,
    )
    return 0


def run_show(plugin: Plugin, args: argparse.Namespace) -> int:
    from sidecar.cli.main import main as traceloop

    found = plugin.find(args.name)
    with tempfile.TemporaryDirectory(prefix="kubectl-traceloop-") as tmp:
        path = Path(tmp) / found.name
        plugin.fetch(found, path)
        rest = [a for a in args.show_args if a != "--"]
        return traceloop(["show", *rest, str(path)])


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kubectl traceloop",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"kubectl-traceloop {__version__}")
    p.add_argument("--kubeconfig", metavar="PATH", help="as kubectl's --kubeconfig")
    p.add_argument("--context", metavar="NAME", help="as kubectl's --context")
    p.add_argument(
        "--recorder-namespace",
        default="traceloop",
        metavar="NS",
        help="where the recorder pods run (default %(default)s)",
    )
    p.add_argument(
        "--recorder-selector",
        default="app.kubernetes.io/name=traceloop",
        metavar="LABELS",
        help="the recorder pods' labels (default %(default)s)",
    )
    p.add_argument(
        "--recorder-container",
        default="traceloop",
        metavar="NAME",
        help="the recorder's container in them (default %(default)s)",
    )
    p.add_argument(
        "--sink",
        metavar="DIR",
        help="the dump directory in the recorder pods (default: their TRACELOOP_SINK)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ls = sub.add_parser("ls", help="list the dumps of every node, newest crash first")
    ls.add_argument("-n", "--namespace", type=_csv, default=[], metavar="NS,...")
    ls.add_argument("--pod", type=_csv, default=[], metavar="NAME,...")
    ls.add_argument("--container", type=_csv, default=[], metavar="NAME,...")
    ls.add_argument("--node", type=_csv, default=[], metavar="NAME,...")
    ls.add_argument("-l", "--limit", type=count, default=0, help="the newest N (default: all)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=run_ls)
    fetch = sub.add_parser("fetch", help="copy a dump here (checked, atomically)")
    fetch.add_argument("name", metavar="NAME", help="the dump's file name as ls shows it")
    fetch.add_argument(
        "-o", "--output", metavar="PATH", help="file, directory or - (default: ./NAME)"
    )
    fetch.add_argument("--force", action="store_true", help="replace an existing file")
    fetch.set_defaults(func=run_fetch)
    show = sub.add_parser(
        "show",
        help="fetch a dump and run traceloop show on it",
        description="Everything after NAME goes to traceloop show (-o strace, --failed, ...).",
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument("show_args", nargs=argparse.REMAINDER, metavar="SHOW OPTIONS")
    show.set_defaults(func=run_show)
    return p


def main(argv: Sequence[str] | None = None, runner: Runner = run_kubectl) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    plugin = Plugin(
        Kubectl(args.kubeconfig, args.context, runner),
        args.recorder_namespace,
        args.recorder_selector,
        args.recorder_container,
        args.sink,
    )
    try:
        return int(args.func(plugin, args))
    except TraceloopError as e:
        print(f"kubectl-traceloop: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
