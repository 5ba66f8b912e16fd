"""Writing dumps to a local directory, atomically.

A dump is written to a hidden temporary name in its final directory, fsynced,
renamed into place and the directory fsynced: a reader (or a crash) never sees
a partial file under a final name. Files are 0600: buffers can hold secrets.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .errors import SinkError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(s: str, default: str = "unknown") -> str:
    out = _UNSAFE.sub("_", s).strip("._")
    return out[:100] or default


def dump_filename(time_iso: str, reason: str, dump_id: str) -> str:
    # ISO time first so `ls` sorts by time; colons are awkward in file names.
    stamp = time_iso.replace(":", "").replace("-", "")
    return f"{stamp}-{safe_name(reason)}-{safe_name(dump_id)}.msgpack"


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Create `path` with what `write` writes, atomically and durably."""
    d = path.parent
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=d)
    except OSError as e:
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
        raise SinkError(f"writing {path} failed: {e.strerror or e}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


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
