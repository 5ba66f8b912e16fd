"""Which cgroups are containers, and what they are called.

Pure: works on cgroup paths as /proc/PID/cgroup shows them. Container runtimes
name their cgroups after the container ID:

    systemd driver   .../cri-containerd-<id>.scope, crio-<id>.scope, docker-<id>.scope
    cgroupfs driver  /kubepods/burstable/pod<uid>/<id>, /docker/<id>
    runc's default   /<container-id> (or the configured cgroupsPath)

Host units (`*.service`, `*.slice`, other `*.scope`) are not containers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sidecar.model.text import escape

_ID = r"(?P<id>[0-9a-f]{64})"
_RUNTIME_PATTERNS = [
    (re.compile(rf"^cri-containerd-{_ID}\.scope$"), "containerd"),
    (re.compile(rf"^crio-{_ID}\.scope$"), "cri-o"),
    (re.compile(rf"^docker-{_ID}\.scope$"), "docker"),
    (re.compile(rf"^libpod-{_ID}\.scope$"), "podman"),
    (re.compile(rf"^{_ID}$"), ""),  # cgroupfs driver: the bare ID
]
_POD_UID = re.compile(
    r"pod(?P<uid>[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_HOST_UNIT = re.compile(r"\.(service|slice|scope|mount|socket|swap)$")
_NOT_CONTAINERS = {"init.scope", "system.slice", "user.slice", "machine.slice"}


@dataclass(frozen=True)
class ContainerRef:
    name: str  # short human name: the runtime ID's first 12 chars, or the cgroup name
    id: str  # full container ID when the path has one, else the cgroup name
    runtime: str  # containerd, cri-o, docker, podman, runc, or "" when unknown
    pod_uid: str | None
    cgroup_path: str

    def to_wire(self) -> dict[str, object]:
        return {
            "name": self.name,
            "id": self.id,
            "runtime": self.runtime,
            "pod_uid": self.pod_uid,
            "cgroup_path": self.cgroup_path,
        }


def identify(cgroup_path: str) -> ContainerRef | None:
    """The container a cgroup path belongs to, or None for host cgroups.

    A path is bytes to the kernel: one that is not UTF-8 (read with
    surrogateescape) is named with strace's escapes, so it can go into a dump.
    """
    cgroup_path = escape(cgroup_path)
    parts = [p for p in cgroup_path.split("/") if p]
    if not parts:
        return None
    leaf = parts[-1]
    pod = _POD_UID.search(cgroup_path)
    pod_uid = pod.group("uid").replace("_", "-") if pod else None
    for pattern, runtime in _RUNTIME_PATTERNS:
        m = pattern.match(leaf)
        if m:
            cid = m.group("id")
            if not runtime:
                runtime = "docker" if "docker" in parts[:-1] else ("cri" if pod_uid else "")
            return ContainerRef(cid[:12], cid, runtime, pod_uid, cgroup_path)
    if leaf in _NOT_CONTAINERS or _HOST_UNIT.search(leaf) or leaf.startswith("pod"):
        return None
    if "conmon" in leaf:
        return None  # CRI-O's monitor process, not the workload
    return ContainerRef(leaf, leaf, "runc", pod_uid, cgroup_path)


def normalize_id(container_id: str) -> str:
    """`containerd://abc…` (as Kubernetes reports it) -> `abc…`."""
    return container_id.split("://", 1)[-1]


def split_container_id(container_id: str) -> tuple[str, str]:
    """`containerd://abc…` (as Kubernetes reports it) -> ("containerd", "abc…")."""
    runtime, sep, cid = container_id.partition("://")
    return (runtime, cid) if sep else ("", container_id)
