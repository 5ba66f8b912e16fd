"""The sink protocol: where dumps go.

A sink stores one dump, given its name parts and a function that writes the
bytes, and returns where it went (a path or URL, for logs and Events). The
local directory (sidecar.sinks.local) and S3 through a spool (sidecar.sinks.s3)
implement it; sidecar.sinks.registry makes one from a `--sink` URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Protocol

from sidecar.dump.naming import DumpName

Writer = Callable[[IO[bytes]], object]


class Sink(Protocol):
    def store(self, name: DumpName, write: Writer) -> str: ...

    def check(self) -> str | None:
        """At start: None if the sink works, else one line saying what is wrong."""
        ...

    def close(self) -> None: ...
