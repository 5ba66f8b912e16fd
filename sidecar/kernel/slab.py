"""Turning the raw bytes of a slab into ordered, consistent records.

Pure: works on NumPy views of memory, whether that memory is the kernel's
mmap-ed array or a copy. Slots are validated with a seqlock-style check so a
slab can be read while its container is still writing to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Slots = npt.NDArray[Any]


@dataclass(frozen=True)
class SlabRead:
    slots: Slots  # valid slots, oldest first (a copy)
    head: int  # sequence number of the newest reserved slot
    base: int  # head when the owner adopted the slab
    overwritten: int  # calls recorded but no longer in the window
    incomplete: int  # slots reserved but torn or unwritten at read time


def read_consistent(live: Slots, head: int, base: int) -> SlabRead:
    """Copy the valid window out of `live` (one slab's slots).

    A writer stores `seq_begin` first and `seq_end` last. We read every
    `seq_end` before copying and every `seq_begin` after: a slot is kept only
    if all four agree, so a slot a writer touched during the copy is dropped
    rather than shown torn. Slots from a previous owner (seq <= base) are stale.
    """
    n = len(live)
    ends_before = np.array(live["seq_end"], copy=True)
    data = np.array(live, copy=True)
    begins_after = np.array(live["seq_begin"], copy=True)
    seq = data["seq_begin"]
    ok = (seq == data["seq_end"]) & (seq == ends_before) & (seq == begins_after) & (seq > base)
    valid = data[ok]
    valid = valid[np.argsort(valid["seq_begin"], kind="stable")]
    in_window = min(max(head - base, 0), n)
    overwritten = max(head - base - n, 0)
    incomplete = max(in_window - int(np.count_nonzero(valid["seq_begin"] > head - in_window)), 0)
    return SlabRead(valid, head, base, overwritten, incomplete)


def to_records(slots: Slots, kinds: dict[int, list[list[int]]]) -> list[list[Any]]:
    """Dump records (docs/dump-format.md) from valid slots.

    `kinds` is nr -> [[arg, kind, len_arg], ...], the capture table in force.
    Column-wise `tolist()` keeps this fast: no per-field NumPy scalar access.
    """
    if len(slots) == 0:
        return []
    seqs = slots["seq_begin"].tolist()
    ts = slots["ts"].tolist()
    dur = slots["dur"].tolist()
    cpu = slots["cpu"].tolist()
    pid = slots["pid"].tolist()
    tid = slots["tid"].tolist()
    # Up to the first NUL: the kernel copies the task's whole 16-byte name.
    comm = [c.split(b"\0", 1)[0].decode("utf-8", "replace") for c in slots["comm"].tolist()]
    nrs = slots["nr"].tolist()
    args = slots["args"].tolist()
    ret = slots["ret"].tolist()
    done = slots["done"].tolist()
    cap_len = slots["cap_len"].tolist()
    cap_full = slots["cap_full"].tolist()
    # The kernel's word on whether it read an argument's memory: an empty
    # capture counts, a failed read does not (its cap_full may still be set).
    read_ok = slots["captured"].tolist()
    caps = slots["cap"]
    out: list[list[Any]] = []
    for i in range(len(seqs)):
        nr = nrs[i]
        captured: list[list[Any]] = []
        spec = kinds.get(nr)
        if spec:
            for j, (arg, kind, _len_arg) in enumerate(spec[:2]):
                if read_ok[i] >> j & 1:
                    length = cap_len[i][j]
                    captured.append([arg, kind, caps[i, j, :length].tobytes(), cap_full[i][j]])
        finished = bool(done[i])
        out.append(
            [
                seqs[i],
                ts[i],
                dur[i] if finished else None,
                cpu[i],
                pid[i],
                tid[i],
                comm[i],
                nr,
                args[i],
                ret[i] if finished else None,
                captured,
            ]
        )
    return out
