"""Knowing every cgroup's path from the moment it is created.

The kernel side reports a new cgroup by id at its first syscall; a container
that crashes at once may have its cgroup removed by the runtime before the
daemon gets to look the id up. inotify reports the `mkdir` itself, which
always comes before the cgroup's first syscall, so draining it when a new id
arrives always finds the path, even of a cgroup that is already gone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
from collections import deque
from pathlib import Path

from sidecar.host.cgroups import Cgroup, walk

IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
IN_CREATE = 0x100
IN_ISDIR = 0x40000000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class CgroupWatch:
    def __init__(self, root: Cgroup) -> None:
        self.root = root
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.dirs: dict[int, Path] = {}  # watch descriptor -> directory
        self.paths: dict[int, Cgroup] = {}  # cgroup id -> cgroup
        self.lock = threading.Lock()
        self.unresolved: deque[tuple[float, Path]] = deque()  # made and gone before a stat
        self._add_tree(root.path)
        self._stop = False
        threading.Thread(target=self._run, name="cgroupwatch", daemon=True).start()

    def _run(self) -> None:
        # Record new cgroups as soon as they are made, not when asked.
        while not self._stop:
            try:
                ready, _, _ = select.select([self.fd], [], [], 1.0)
            except (OSError, ValueError):
                return  # closed
            if ready:
                with self.lock:
                    self._drain()

    def _add(self, path: Path) -> None:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), IN_CREATE | IN_ONLYDIR)
        if wd >= 0:
            self.dirs[wd] = path
        # Gone already if a container lived only a few milliseconds; the
        # watcher thread stats new directories at once to make that rare, and
        # the name is kept for `lookup` to match.
        try:
            self.paths[os.stat(path).st_ino] = Cgroup(path, self.root.mount)
        except OSError:
            self.unresolved.append((time.monotonic(), path))

    def _add_tree(self, path: Path) -> None:
        self._add(path)
        for cg in walk(Cgroup(path, self.root.mount)):
            self._add(cg.path)

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, OSError):
                return
            off = 0
            while off + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
                name = data[off + _EVENT.size : off + _EVENT.size + length].rstrip(b"\0")
                off += _EVENT.size + length
                if mask & IN_IGNORED:
                    self.dirs.pop(wd, None)
                elif mask & IN_CREATE and mask & IN_ISDIR and wd in self.dirs:
                    # Watch it first, then look inside: nothing created in
                    # between is missed.
                    self._add_tree(self.dirs[wd] / os.fsdecode(name))

    def lookup(self, cgroup_id: int) -> Cgroup | None:
        """The cgroup with this id. For one already removed, the single
        directory made and removed unseen recently is it; with several, which
        is which cannot be told and None is returned."""
        with self.lock:
            self._drain()
            found = self.paths.get(cgroup_id)
            now = time.monotonic()
            while self.unresolved and now - self.unresolved[0][0] > 5.0:
                self.unresolved.popleft()
            if found is None and len(self.unresolved) == 1:
                found = Cgroup(self.unresolved.popleft()[1], self.root.mount)
                self.paths[cgroup_id] = found
            return found

    def resolved(self, cgroup_id: int, cg: Cgroup) -> None:
        """The kernel told this cgroup's path: keep it, and take it off the
        directories made and gone unseen, so `lookup` never gives it to another id."""
        with self.lock:
            self._drain()
            self.paths[cgroup_id] = cg
            self.unresolved = deque(u for u in self.unresolved if u[1] != cg.path)

    def forget(self, cgroup_id: int) -> None:
        with self.lock:
            self.paths.pop(cgroup_id, None)

    def close(self) -> None:
        self._stop = True
        with self.lock:
            os.close(self.fd)
