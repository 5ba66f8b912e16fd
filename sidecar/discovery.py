"""From a container ID (as Kubernetes reports it) to the cgroup the kernel side keys on.

Runtimes name a container's cgroup directory after its ID:

    systemd driver   kubepods.slice/.../cri-containerd-<id>.scope, crio-<id>.scope,
                     docker-<id>.scope
    cgroupfs driver  kubepods/burstable/pod<uid>/<id>, kubepods/.../crio-<id>
    plain runc       <parent>/<id>

so the directory is found by its name holding the ID as a whole token (`-`,
`.` or `_` around it), never as a bare substring: short IDs would otherwise
match unrelated names. CRI-O's `crio-conmon-<id>.scope` holds the monitor
process, not the container, and is skipped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .kubemeta import split_container_id


def _token(container_id: str) -> re.Pattern[str]:
    return re.compile(rf"(^|[-_.]){re.escape(container_id)}($|[-_.])")


def name_matches(dirname: str, container_id: str) -> bool:
    """Is `dirname` the cgroup directory of `container_id` (prefix already stripped)?"""
    if not container_id or "conmon" in dirname:
        return False
    return _token(container_id).search(dirname) is not None


def find_cgroup_dir(root: Path, container_id: str) -> Path | None:
    """The cgroup directory under `root` named after `container_id`, or None.

    `container_id` may carry its runtime prefix (`containerd://…`). The
    shallowest match wins: a container's own sub-cgroups (systemd inside a
    container, say) are deeper than the container's cgroup.
    """
    cid = split_container_id(container_id)[1]
    if not cid:
        return None
    token = _token(cid)
    best: Path | None = None
    best_depth = 1 << 30
    for dirpath, dirnames, _ in os.walk(root):
        depth = dirpath.count(os.sep)
        if depth >= best_depth:
            dirnames[:] = []  # nothing shallower down here
            continue
        for d in dirnames:
            if "conmon" not in d and token.search(d):
                best, best_depth = Path(dirpath) / d, depth
                break
    return best


def find_pod_cgroup_dir(root: Path, pod_uid: str) -> Path | None:
    """The pod's cgroup under `root` (`pod<uid>`, or `…-pod<uid with _>.slice`).

    Used in sidecar mode: recording only the own pod means watching only this
    directory.
    """
    if not pod_uid:
        return None
    names = (f"pod{pod_uid}", f"pod{pod_uid.replace('-', '_')}")
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            if any(d == n or d.endswith(f"-{n}.slice") for n in names):
                return Path(dirpath) / d
    return None


def cgroup_id(path: Path) -> int:
    """The id `bpf_get_current_cgroup_id()` gives for tasks in `path` (its inode)."""
    return os.stat(path).st_ino


def main(argv: list[str] | None = None) -> int:
    """`python -m sidecar.discovery pod-cgroup UID [ROOT]`: print the pod's cgroup directory.

    For the sidecar: its --cgroup-root is its own pod's cgroup (Downward API
    gives the UID), so no other pod on the node is recorded.
    """
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m sidecar.discovery")
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("pod-cgroup", help="print the cgroup directory of a pod")
    pc.add_argument("uid")
    pc.add_argument("root", nargs="?", default="/sys/fs/cgroup")
    args = p.parse_args(argv)
    found = find_pod_cgroup_dir(Path(args.root), args.uid)
    if found is None:
        print(
            f"no cgroup of pod {args.uid} under {args.root} (is the host's cgroup "
            "hierarchy mounted there?)",
            file=sys.stderr,
        )
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
