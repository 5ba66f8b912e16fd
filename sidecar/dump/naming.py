"""What a dump is called: the parts of its file name or object key."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(s: str, default: str = "unknown") -> str:
    out = _UNSAFE.sub("_", s).strip("._")
    return out[:100] or default


def dump_filename(time_iso: str, reason: str, dump_id: str) -> str:
    # ISO time first so `ls` sorts by time; colons are awkward in file names.
    # The time can come from outside (a pod's finishedAt): as safe as the rest.
    stamp = safe_name(time_iso.replace(":", "").replace("-", ""))
    return f"{stamp}-{safe_name(reason)}-{safe_name(dump_id)}.msgpack"


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
