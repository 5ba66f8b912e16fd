"""Real OCI containers for tests: runc with a busybox-static rootfs.

Each container gets its own cgroup under one parent per test session
(`/traceloop-test-PID/NAME` in every hierarchy), so a recorder can watch
exactly the tests' containers with `--cgroup-root`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

APPLETS = ["sh", "cat", "echo", "sleep", "true", "false", "ls", "kill", "ps", "yes", "head"]


def build_rootfs(dest: Path, progs: Path | None = None) -> Path:
    bin_ = dest / "bin"
    bin_.mkdir(parents=True, exist_ok=True)
    shutil.copy2("/bin/busybox", bin_ / "busybox")
    for a in APPLETS:
        link = bin_ / a
        if not link.exists():
            link.symlink_to("busybox")
    for d in ("proc", "sys", "dev", "tmp", "etc", "traceloop"):
        (dest / d).mkdir(exist_ok=True)
    (dest / "etc" / "hostname").write_text("container\n")
    if progs:
        for p in progs.iterdir():
            if p.is_file() and os.access(p, os.X_OK):
                shutil.copy2(p, bin_ / p.name)
    return dest


@dataclass
class Runc:
    workdir: Path
    rootfs: Path
    parent: str = field(default_factory=lambda: f"traceloop-test-{os.getpid()}")
    names: list[str] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    def cgroup_root(self, mount: Path = Path("/sys/fs/cgroup/unified")) -> Path:
        """The cgroup2 directory under which this session's containers live."""
        p = mount / self.parent
        p.mkdir(exist_ok=True)
        return p

    def cgroup(self, name: str, mount: Path = Path("/sys/fs/cgroup/unified")) -> Path:
        return mount / self.parent / name

    def bundle(
        self, name: str, args: list[str], memory: int | None = None, cgroup: str | None = None
    ) -> Path:
        """`cgroup`: the container's cgroup under this session's parent (default: its
        name), e.g. `kubepods/pod<uid>/<id>` to look like a kubelet's container."""
        b = self.workdir / "bundles" / name
        b.mkdir(parents=True, exist_ok=True)
        cfg = json.loads(self._spec())
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args
        cfg["root"] = {"path": str(self.rootfs), "readonly": True}
        cfg["hostname"] = name
        cfg["linux"]["cgroupsPath"] = f"/{self.parent}/{cgroup or name}"
        if memory:
            cfg["linux"].setdefault("resources", {})["memory"] = {"limit": memory}
        (b / "config.json").write_text(json.dumps(cfg))
        return b

    def _spec(self) -> str:
        """runc's default spec, made once."""
        spec = self.workdir / "spec.json"
        if not spec.exists():
            tmp = self.workdir / "spec"
            tmp.mkdir(exist_ok=True)
            subprocess.run(["runc", "spec"], cwd=tmp, check=True)
            (tmp / "config.json").rename(spec)
        return spec.read_text()

    def _cmd(self, *args: str) -> list[str]:
        return ["runc", "--root", str(self.state), *args]

    def run(
        self, args: list[str], name: str | None = None, memory: int | None = None,
        timeout: float = 60, cgroup: str | None = None,
    ) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        """Run a container to completion; returns runc's result (the exit status)."""
        name = name or f"c-{uuid.uuid4().hex[:10]}"
        b = self.bundle(name, args, memory, cgroup)
        self.names.append(name)
        try:
            return subprocess.run(
                self._cmd("run", "--bundle", str(b), name),
                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            )  # fmt: skip
        finally:
            self.delete(name)

    def start(
        self, args: list[str], name: str | None = None, cgroup: str | None = None
    ) -> tuple[str, subprocess.Popen[bytes]]:
        """Start a container in the background (runc run, not detached)."""
        name = name or f"c-{uuid.uuid4().hex[:10]}"
        b = self.bundle(name, args, cgroup=cgroup)
        self.names.append(name)
        proc = subprocess.Popen(
            self._cmd("run", "--bundle", str(b), name),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        return name, proc

    def wait_for_program(self, name: str, comm: str, timeout: float = 10.0) -> None:
        """Until a process of container `name` runs `comm` (e.g. after an exec)."""
        deadline = time.monotonic() + timeout
        procs = self.cgroup(name) / "cgroup.procs"
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(OSError):
                        if Path(f"/proc/{pid}/comm").read_text().strip() == comm:
                            return
            time.sleep(0.02)
        raise AssertionError(f"container {name} never ran {comm!r} within {timeout}s")

    def kill(self, name: str, sig: str = "KILL") -> None:
        subprocess.run(self._cmd("kill", name, sig), capture_output=True)

    def delete(self, name: str) -> None:
        subprocess.run(self._cmd("delete", "-f", name), capture_output=True)

    def cleanup(self) -> None:
        for n in self.names:
            self.delete(n)
        for mount in Path("/sys/fs/cgroup").iterdir():
            d = mount / self.parent
            if d.is_dir():
                nested = [c for c in d.rglob("*") if c.is_dir()]
                for child in sorted(nested, key=lambda c: len(c.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        child.rmdir()
                with contextlib.suppress(OSError):
                    d.rmdir()
