"""Writing dumps to a local directory, atomically.

A dump is written to a hidden temporary name in its final directory, fsynced,
renamed into place and the directory fsynced: a reader (or a crash) never sees
a partial file under a final name. Files are 0600: buffers can hold secrets.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sidecar.dump.naming import DumpName, safe_name
from sidecar.model.errors import SinkError
from sidecar.sinks.base import Writer


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Create `path` with what `write` writes, atomically and durably."""
    d = path.parent
    made: list[Path] = []
    try:
        made = _make_dirs(d)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=d)
    except OSError as e:
        _remove_empty(made)
        raise SinkError(f"cannot write to {d}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.rename(tmp, path)
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _remove_empty(made)
        raise SinkError(f"writing {path} failed: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _remove_empty(made)
        raise
    return path


def _make_dirs(d: Path) -> list[Path]:
    """Make `d` and its missing parents, each 0700 whatever the umask (dumps can
    hold secrets); returns those made, outermost first."""
    missing = []
    while not d.is_dir():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    made = []
    for m in reversed(missing):
        try:
            m.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by another writer meanwhile
        os.chmod(m, 0o700)  # mkdir's mode passes through the umask
        made.append(m)
    return made


def _remove_empty(made: list[Path]) -> None:
    """A write that failed leaves no empty directory behind."""
    for m in reversed(made):
        with contextlib.suppress(OSError):
            m.rmdir()


def clean_partials(root: Path) -> int:
    """Remove temporary files left by a crash mid-write; returns how many."""
    n = 0
    if not root.is_dir():
        return 0
    for p in root.rglob(".tmp-*.part"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    return n


class LocalSink:
    """`DIR/CONTAINER/TIME-REASON-ID.msgpack`, atomic, 0600."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, name: DumpName) -> Path:
        who = name.container if not name.pod else f"{name.namespace}_{name.pod}_{name.container}"
        return self.root / safe_name(who)

    def store(self, name: DumpName, write: Writer) -> str:
        path = self.directory(name) / name.filename
        atomic_write(path, write)
        return str(path)

    def check(self) -> None:
        return None

    def close(self) -> None:
        pass
