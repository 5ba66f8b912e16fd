"""What `traceloop ls` lists: dumps in a local directory (here) or in S3
(sidecar/sinks/s3/_objects.py), as the same rows.

A local dump's row comes from its header (read alone: the records are not),
so it shows what the dump says about itself, whatever its file is called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sidecar.dump.naming import safe_name
from sidecar.dump.reader import DumpReader
from sidecar.model.clock import utc_text
from sidecar.model.errors import TraceloopError

SUFFIXES = (".msgpack", ".msgpack.zst")


@dataclass
class Listed:
    url: str
    key: str
    size: int
    last_modified: str
    time: str = ""
    reason: str = ""
    node: str = ""
    cluster: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    id: str = ""


def newest_first(items: list[Listed], limit: int) -> list[Listed]:
    """Newest incident first (its trigger's time, not when the file or object was
    written: an upload delayed by an outage does not make an old crash look new);
    then the newest `limit` (0: all).

    The time is what a dump's header or an object's metadata says, anyone's who
    could write there: one that is not an ISO 8601 time sorts after every real
    one (by when the file or object was written), never first."""
    items.sort(key=_newest_first, reverse=True)
    return items[:limit] if limit > 0 else items


_EPOCH = datetime.fromtimestamp(0, UTC)


def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _newest_first(i: Listed) -> tuple[bool, datetime]:
    """Sort key: (the time is valid, when), the crash time if there is one."""
    lm = _parse_time(i.last_modified) or _EPOCH
    if not i.time:
        return True, lm
    t = _parse_time(i.time)
    return (True, t) if t is not None else (False, lm)


def _text(d: Any, key: str) -> str:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, str) else ""


def _describe(path: Path, root: Path, header: dict[str, Any], st: os.stat_result) -> Listed:
    triggers = header.get("triggers")
    first = triggers[0] if isinstance(triggers, list) and triggers else {}
    pod = header.get("pod") or {}
    item = Listed(
        url=str(path),
        key=str(path.relative_to(root)),
        size=st.st_size,
        last_modified=utc_text(datetime.fromtimestamp(st.st_mtime, UTC)),
        time=_text(first, "time"),
        reason=_text(first, "reason"),
        node=_text(pod, "node") or _text(header.get("host"), "node"),
        namespace=_text(pod, "namespace"),
        pod=_text(pod, "name"),
        container=_text(pod, "container") or _text(header.get("container"), "name"),
    )
    # The dump's ID is the rest of its file name (sidecar/dump/naming.py).
    stamp = item.time.replace(":", "").replace("-", "")
    prefix = f"{stamp}-{safe_name(item.reason)}-"
    stem = path.name.removesuffix(".zst").removesuffix(".msgpack")
    if item.time and stem.startswith(prefix):
        item.id = stem[len(prefix) :]
    return item


def list_local(root: Path, limit: int) -> tuple[list[Listed], list[str]]:
    """The dumps under `root` (at any depth; hidden files, which are partial
    writes, left out), and one line for each file that could not be read."""
    items: list[Listed] = []
    problems: list[str] = []
    for dirpath, dirnames, files in os.walk(root, onerror=lambda e: problems.append(str(e))):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(SUFFIXES):
                continue
            path = Path(dirpath) / name
            try:
                st = path.stat()
                with DumpReader(path) as r:
                    items.append(_describe(path, root, r.header, st))
            except TraceloopError as e:
                problems.append(str(e))
            except OSError as e:
                problems.append(f"{path}: {e.strerror or e}")
    return newest_first(items, limit), problems
