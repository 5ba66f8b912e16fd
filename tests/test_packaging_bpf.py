"""The wheel as a user gets it: built from the checkout, installed into a fresh
venv outside it that sees the distribution's bcc (as docs/ci.md's workflow
does), and recording a failing command from another directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.bpf

ROOT = Path(__file__).resolve().parent.parent
SKIP = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis",
        "traceloop-dumps", "out")  # fmt: skip


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=280)


def test_the_installed_wheel_records_from_another_directory(tmp_path: Path) -> None:
    # Nothing of the checkout or its venv may leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "TRACELOOP_BPF_DIR", "PYTHONHOME")
    }
    # Built from a copy: setuptools keeps build/ in the source tree and would
    # both leave it in the checkout and put its stale files into the next wheel.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*SKIP))
    wheels = tmp_path / "wheels"
    r = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ".", "-w", str(wheels)],
            src, env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    [wheel] = wheels.glob("traceloop_sidecar-*.whl")
    with zipfile.ZipFile(wheel) as z:
        assert "sidecar/kernel/bpf/recorder.bpf.c" in z.namelist()

    venv = tmp_path / "venv"
    r = run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)], tmp_path, env)
    assert r.returncode == 0, r.stderr
    # --no-compile: byte-compiling boto3 and the kubernetes client is most of the time.
    r = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile",
             str(wheel)], tmp_path, env)  # fmt: skip
    assert r.returncode == 0, r.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    py = venv / "bin" / "python"
    r = run([str(py), "-c", "import sidecar; print(sidecar.__file__)"], elsewhere, env)
    assert r.stdout.startswith(str(venv)), r  # the installed package, not the checkout

    traceloop = str(venv / "bin" / "traceloop")
    r = run([traceloop, "record", "--require-recording", "--", "sh", "-c", "exit 3"],
            elsewhere, env)  # fmt: skip
    assert r.returncode == 3, r.stderr
    [dump] = (elsewhere / "traceloop-dumps").rglob("*.msgpack")
    assert f"dump written to traceloop-dumps/sh/{dump.name}" in r.stderr
    r = run([traceloop, "show", "-o", "strace", str(dump)], elsewhere, env)
    assert r.returncode == 0 and "exit_group(3)" in r.stdout, r.stderr
