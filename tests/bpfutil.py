"""Helpers for tests that load the kernel side in-process."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sidecar.dump.naming import DumpName
from sidecar.dump.reader import DumpReader
from sidecar.dump.records import NR
from sidecar.dump.syscalls import SyscallTable
from sidecar.host import cgroups
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel, KernelConfig
from sidecar.kernel.recorder import Recorder
from sidecar.kernel.syscalls import load_table
from sidecar.model.trigger import Trigger
from sidecar.sinks.local import LocalSink

_TABLE: SyscallTable | None = None


def table() -> SyscallTable:
    global _TABLE
    if _TABLE is None:
        _TABLE = load_table()
    return _TABLE


@contextmanager
def watched_parent(settings: Settings, **cfg: Any) -> Iterator[tuple[Kernel, cgroups.Cgroup]]:
    """A kernel recording every child cgroup of a fresh parent cgroup."""
    root = cgroups.resolve_root(None)
    parent = cgroups.create(root, f"traceloop-t-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        # Inside the try: a kernel side that fails to load leaves no cgroup behind.
        k = Kernel(
            KernelConfig(settings, root_id=parent.id, root_level=parent.level, **cfg), table()
        )
        try:
            yield k, parent
        finally:
            k.close()
    finally:
        for child in parent.path.glob("*/"):
            cgroups.remove(cgroups.Cgroup(child, parent.mount))
        cgroups.remove(parent)


def child_cgroup(parent: cgroups.Cgroup) -> cgroups.Cgroup:
    return cgroups.create(parent, f"c-{uuid.uuid4().hex[:8]}")


def run_in(cg: cgroups.Cgroup, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, preexec_fn=lambda: cgroups.join(cg), capture_output=True, **kw)


def dump(k: Kernel, cg: cgroups.Cgroup, tmp: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    """Write the cgroup's dump through the real dump path and read it back."""
    slab = k.cgroups()[cg.id]
    k.freeze(slab)
    t = Trigger(reason="manual", source="manual", ts_ns=0, time="2026-01-01T00:00:00.000Z")
    name = DumpName(time=t.time, reason=t.reason, id=uuid.uuid4().hex, container="test")
    path = LocalSink(tmp).store(name, Recorder(k).writer(slab, [t], {"name": "test"}))
    with DumpReader(path) as r:
        return r.header, list(r)


def names(records: list[list[Any]]) -> list[str]:
    return [table().name(r[NR]) for r in records]
