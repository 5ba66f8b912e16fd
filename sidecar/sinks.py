"""Where dumps go: a local directory now, S3 through a spool (sidecar.s3).

A sink stores one dump, given its name parts and a function that writes the
bytes, and returns where it went (a path or URL, for logs and Events).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from .errors import UsageError
from .localsink import atomic_write, dump_filename, safe_name

Writer = Callable[[IO[bytes]], object]


@dataclass(frozen=True)
class DumpName:
    """The parts a dump's file name or object key is made of."""

    time: str  # ISO 8601 UTC of the first trigger
    reason: str  # first trigger's reason
    id: str  # unique and deterministic per incident
    container: str  # container name (or cgroup-derived name)
    namespace: str = ""
    pod: str = ""
    cluster: str = ""
    node: str = ""

    @property
    def filename(self) -> str:
        return dump_filename(self.time, self.reason, self.id)


class Sink(Protocol):
    def store(self, name: DumpName, write: Writer) -> str: ...

    def close(self) -> None: ...


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

    def close(self) -> None:
        pass


def make_sink(url: str, **options: object) -> Sink:
    """A sink from `--sink`: a directory, `file://DIR` or `s3://BUCKET/PREFIX`."""
    if url.startswith("s3://"):
        # Imported here: boto3 is slow to import and local sinks do not need it
        # (and sidecar.s3 imports this module).
        from .s3 import make_s3_sink

        return make_s3_sink(url, **options)
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise UsageError(f"--sink {url}: unknown kind (use a directory, file:// or s3://)")
    if not url:
        raise UsageError("--sink: empty path")
    return LocalSink(Path(url))
