"""From a loaded kernel side to dump files: snapshot a slab, write its dump.

This is the dump path. It reads the slab once through mmap (a copy of one
slab), decodes it column-wise, and hands back what streams it as msgpack into a
sink's atomic file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from sidecar.dump.captures import SECRET_KINDS, Kind, msg_without_data, secret_args
from sidecar.dump.header import build_header
from sidecar.dump.records import CAPS, NR, TS
from sidecar.dump.writer import write_dump
from sidecar.kernel.loader import Kernel
from sidecar.kernel.slab import SlabRead, read_slab, to_records
from sidecar.model.errors import TraceloopError
from sidecar.model.trigger import Trigger


@dataclass
class Snapshot:
    read: SlabRead
    after_freeze: int
    records: list[list[Any]]

    def counts(self) -> dict[str, int]:
        r = self.read
        return {
            "recorded": len(self.records),
            "overwritten": r.overwritten,
            "incomplete": r.incomplete,
            "after_freeze": self.after_freeze,
            "dropped": r.incomplete,
            "total": max(r.head - r.base, 0),
        }


_MSG_KINDS = (int(Kind.MSG_IN), int(Kind.MSG_OUT))


def drop_buffers(
    records: list[list[Any]],
    captures: dict[int, list[list[int]]],
    secret: frozenset[tuple[int, int]] = frozenset(),
) -> dict[int, list[list[int]]]:
    """Leave read/write buffers, iovecs' and messages' bytes, socket option
    values (the `secret` (nr, argument) pairs) and argv out, as `--no-buffers`
    would have; paths and addresses stay. Returns the header's `captures` table
    to match (messages kept without their data)."""
    for r in records:
        caps = r[CAPS]
        if caps:
            nr = r[NR]
            r[CAPS] = [
                [c[0], c[1], msg_without_data(c[2]), c[3]] if c[1] in _MSG_KINDS else c
                for c in caps
                if c[1] not in SECRET_KINDS and (nr, c[0]) not in secret
            ]
    return {
        nr: [[a, k, 0 if k in _MSG_KINDS else n] for a, k, n in caps]
        for nr, caps in captures.items()
    }


class Recorder:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def snapshot(self, slab: int, gen: int | None = None) -> Snapshot:
        """Read `slab`'s window. With `gen`, the slab must belong to that
        incarnation before and after the read (a dump belongs to one container)."""
        k = self.kernel
        meta = k.meta[slab]
        if gen is not None and int(meta["gen"]) != gen:
            raise TraceloopError(f"slab {slab} was reused before its dump was written")
        read = read_slab(meta, k.chunks, k.chunkhdrs, window=k.settings.slots)
        if gen is not None and int(meta["gen"]) != gen:
            raise TraceloopError(f"slab {slab} was reused while its dump was read")
        records = to_records(read, k.kinds)
        return Snapshot(read, int(meta["after_freeze"]), records)

    def header(
        self,
        snap: Snapshot,
        triggers: list[Trigger],
        container: dict[str, Any],
        pod: dict[str, Any] | None = None,
        window: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        s = self.kernel.settings
        return build_header(
            triggers=triggers,
            container=container,
            pod=pod,
            recorder={
                **s.to_wire(),
                "raw_tracepoints": s.raw_tracepoints,
                "task_walk": self.kernel.task_walk is not None,
                "decision_cache": self.kernel.decision_cache,
                "kernel_stats": self.kernel.stats(),
            },
            counts=snap.counts(),
            syscalls=self.kernel.table.to_wire(),
            captures=self.kernel.kinds,
            window=window,
        )

    def writer(
        self,
        slab: int,
        triggers: list[Trigger],
        container: dict[str, Any],
        pod: dict[str, Any] | None = None,
        window_ns: int | None = None,
        buffers: bool = True,
        gen: int | None = None,
    ) -> Callable[[IO[bytes]], int]:
        """Snapshot `slab` now; returns what writes its dump to a file (to each sink).
        With `gen`, the slab must still belong to that incarnation (TraceloopError).

        `buffers=False` writes the dump without read/write buffers (a pod or
        namespace that opted out of them), whatever the kernel captured.
        """
        snap = self.snapshot(slab, gen)
        window = None
        if window_ns is not None and snap.records:
            end = max([t.ts_ns for t in triggers if t.ts_ns] or [snap.records[-1][TS]])
            cut = [r for r in snap.records if r[TS] >= end - window_ns]
            window = {"seconds": window_ns / 1e9, "cut": len(snap.records) - len(cut)}
            snap.records = cut
        header = self.header(snap, triggers, container, pod, window)
        if not buffers:
            names = {nr: self.kernel.table.name(nr) for nr in self.kernel.kinds}
            header["captures"] = drop_buffers(snap.records, header["captures"], secret_args(names))
            header["recorder"]["buffers"] = False
        records = snap.records
        return lambda f: write_dump(f, header, records)
