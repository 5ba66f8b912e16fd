"""cgroup v2: finding the hierarchy, ids, levels, creating and joining cgroups.

A cgroup's id, as `bpf_get_current_cgroup_id()` returns it, is the inode
number of its directory in the cgroup2 file system.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sidecar.model.errors import CgroupError


@dataclass(frozen=True)
class Cgroup:
    path: Path  # directory in the cgroup2 file system
    mount: Path  # the cgroup2 mount it lives in

    @property
    def id(self) -> int:
        return os.stat(self.path).st_ino

    @property
    def level(self) -> int:
        rel = self.path.relative_to(self.mount)
        return 0 if str(rel) == "." else len(rel.parts)

    @property
    def name(self) -> str:
        """Path inside the hierarchy, as /proc/PID/cgroup shows it."""
        rel = str(self.path.relative_to(self.mount))
        return "/" if rel == "." else "/" + rel

    def populated(self, cgroup_id: int | None = None) -> bool:
        """Does a process run in this cgroup? With `cgroup_id`, in that incarnation
        of it: a cgroup removed and made again at the same path is another one,
        and says nothing about the first (its directory has another inode)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return False  # removed: nothing runs in it any more
        try:
            if cgroup_id is not None and os.fstat(fd).st_ino != cgroup_id:
                return False
            # Read through the directory we checked, not the path again.
            ev = os.open("cgroup.events", os.O_RDONLY, dir_fd=fd)
            try:
                text = os.read(ev, 4096).decode("ascii", "replace")
            finally:
                os.close(ev)
        except OSError:
            return False
        finally:
            os.close(fd)
        return "populated 1" in text

    def has_procs(self) -> bool:
        """Does a process run in this cgroup itself (not only in its children,
        which `populated` counts too)?"""
        try:
            with open(self.path / "cgroup.procs", "rb") as f:
                return bool(f.read(64).strip())
        except OSError:
            return False

    def child(self, name: str) -> Cgroup:
        return Cgroup(self.path / name, self.mount)


def cgroup2_mount(mountinfo: str | None = None) -> Path:
    """The cgroup2 mount point (unified or hybrid hierarchy)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError as e:
            raise CgroupError(f"cannot read /proc/self/mountinfo: {e}") from None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] == "cgroup2":
            return Path(left.split()[4])
    raise CgroupError(
        "no cgroup v2 hierarchy is mounted: traceloop keys containers by cgroup v2 id "
        "(mount one with 'mount -t cgroup2 none /sys/fs/cgroup/unified')"
    )


def resolve_root(path: str | None) -> Cgroup:
    """The cgroup to watch: `path` (a cgroup2 directory) or the whole hierarchy.

    `/sys/fs/cgroup` on a hybrid host (cgroup v1 there, v2 under `unified`)
    means the v2 hierarchy, which is what the kernel side keys on.
    """
    mount = cgroup2_mount()
    if path is None or Path(path) == Path("/sys/fs/cgroup"):
        return Cgroup(mount, mount)
    p = Path(path).resolve()
    if not p.is_dir():
        raise CgroupError(f"--cgroup-root {path}: no such directory")
    try:
        p.relative_to(mount)
    except ValueError:
        raise CgroupError(
            f"--cgroup-root {path} is not in the cgroup v2 hierarchy at {mount}"
        ) from None
    return Cgroup(p, mount)


def current(pid: int | str = "self") -> Cgroup:
    mount = cgroup2_mount()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return Cgroup(mount / line[3:].lstrip("/"), mount)
    raise CgroupError(f"process {pid} has no cgroup v2 membership")


def create(parent: Cgroup, name: str) -> Cgroup:
    cg = parent.child(name)
    try:
        cg.path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CgroupError(f"cannot create cgroup {cg.path}: {e.strerror}") from None
    return cg


def join(cg: Cgroup, pid: int = 0) -> None:
    """Move process `pid` (0: the caller) into `cg`."""
    with open(cg.path / "cgroup.procs", "w") as f:
        f.write(str(pid))


def remove(cg: Cgroup) -> bool:
    try:
        cg.path.rmdir()
    except OSError:
        return False
    return True


def walk(root: Cgroup) -> Iterator[Cgroup]:
    for dirpath, dirnames, _ in os.walk(root.path):
        for d in dirnames:
            yield Cgroup(Path(dirpath) / d, root.mount)


def find_by_id(root: Cgroup, cgroup_id: int) -> Cgroup | None:
    if root.id == cgroup_id:
        return root
    for cg in walk(root):
        try:
            if cg.id == cgroup_id:
                return cg
        except OSError:
            continue
    return None
