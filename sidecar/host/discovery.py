"""From a pod UID (as Kubernetes reports it) to the pod's cgroup directory.

Kubelet names a pod's cgroup after its UID: `pod<uid>` with the cgroupfs
driver, `kubepods-<qos>-pod<uid with _>.slice` with the systemd driver.
"""

from __future__ import annotations

import os
from pathlib import Path


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
