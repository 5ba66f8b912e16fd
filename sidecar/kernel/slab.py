"""Turning a container's chunks into ordered, consistent records.

Pure: works on NumPy views of memory, whether that memory is the kernel's
mmap-ed maps or a copy. A container's window is the chunks its slot lists,
oldest first; each chunk holds call records stacked down from its end and
their captured bytes stacked up from its start (recorder.bpf.c). Records are
validated with a seqlock-style check, so a container can be read while it is
still recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sidecar.dump.records import SIGNAL, UNREADABLE
from sidecar.kernel.layout import REC_BYTES, REC_DTYPE

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class SlabRead:
    recs: Array  # valid records, oldest first (a copy)
    data: Array  # the chunks' bytes as read (one row per chunk), for the captures
    rows: Array  # the row of `data` each record came from
    head: int  # sequence number of the newest reserved call
    base: int  # head when the owner adopted the slot
    overwritten: int  # calls recorded but no longer in the window
    incomplete: int  # calls in the window that were torn, unwritten or not recorded


def chunk_ids(meta: Any) -> list[int]:
    """The chunks a slot's meta lists, oldest first."""
    ring = meta["ring"]
    n = len(ring)
    tail, top = int(meta["tail"]), int(meta["top"])
    count = (top - tail) % (1 << 32) + 1
    if int(meta["held"]) == 0 or count > n:
        return []  # released, or read while the kernel changed it
    return [int(ring[(tail + i) % n]) for i in range(count)]


def calls_made(meta: Any, hdrs: Array) -> int:
    """Calls the slot's owner made (its newest sequence number): those of the
    closed chunks (meta head) and those reserved in the current one."""
    ids = chunk_ids(meta)
    head = int(meta["head"])
    if ids:
        h = hdrs[ids[-1]]
        head = max(head, int(h["base"]) + min(int(h["fill"]) & 0xFFFFFFFF, RPC_MAX))
    return head


RPC_MAX = 1 << 16  # more records than any chunk holds: the cap is the chunk's own
SIG_NR = 0xFFFF  # a record's nr for a signal delivery (recorder.bpf.c)


def read_slab(meta: Any, chunks: Array, hdrs: Array, window: int | None = None) -> SlabRead:
    """Copy the valid window of one container slot out of live memory.

    `meta` is the slot's row of the `slabs` map, `chunks` the whole chunk
    array (one row of bytes per chunk) and `hdrs` the chunk headers. A
    writer sets a record's `seq` to 0 before writing it and to the call's
    number last: we read every `seq` before copying and again after, and
    keep a record only if both agree with the copy's, it is of this owner
    (base < seq <= head) and of the chunk's current incarnation (gen), so a
    record a writer touched during the copy, or left over from a chunk's
    previous use, is dropped rather than shown torn. With `window`, only the
    newest `window` calls are kept (the recycling of chunks keeps a few
    more).
    """
    m = np.array(meta, copy=True)
    ids = np.array(chunk_ids(m), dtype=np.int64)
    rpc = chunks.shape[1] // REC_BYTES
    head, base = int(m["head"]), int(m["base"])
    if len(ids):
        last = hdrs[ids[-1]]
        head = max(head, int(last["base"]) + min(int(last["fill"]) & 0xFFFFFFFF, rpc))
    live = chunks.view(REC_DTYPE).reshape(chunks.shape[0], rpc)
    gen0 = np.array(hdrs["gen"][ids], copy=True)
    fill = np.array(hdrs["fill"][ids], copy=True)
    seq0 = live["seq"][ids]  # fancy indexing: copies
    data = chunks[ids]
    seq1 = live["seq"][ids]
    gen1 = hdrs["gen"][ids]
    recs = data.view(REC_DTYPE).reshape(len(ids), rpc)
    # Record r of a chunk is its (rpc - 1 - r)-th row: they stack down from the end.
    reserved = np.minimum(fill & 0xFFFFFFFF, rpc).astype(np.int64)
    position = rpc - 1 - np.arange(rpc)
    ok = (
        (seq0 == seq1)
        & (recs["seq"] == seq0)
        & (seq0 > base)
        & (seq0 <= head)
        & (recs["gen"] == (gen0 & 0xFFFF)[:, None])
        & (gen0 == gen1)[:, None]
        & (position[None, :] < reserved[:, None])
    )
    rows, cols = np.nonzero(ok)
    valid = recs[rows, cols]
    order = np.argsort(valid["seq"], kind="stable")
    valid, rows = valid[order], rows[order]
    if window is not None and len(valid) > window:
        valid, rows = valid[-window:], rows[-window:]
    total = max(head - base, 0)
    first = int(valid["seq"][0]) if len(valid) else head + 1
    overwritten = min(max(first - base - 1, 0), total)
    incomplete = max(total - overwritten - len(valid), 0)
    return SlabRead(valid, data, rows, head, base, overwritten, incomplete)


def to_records(read: SlabRead, kinds: dict[int, list[list[int]]]) -> list[list[Any]]:
    """Dump records (docs/dump-format.md) from a read window.

    `kinds` is nr -> [[arg, kind, len_arg], ...], the capture table in force.
    Column-wise `tolist()` keeps this fast: no per-field NumPy scalar access.
    """
    recs = read.recs
    if len(recs) == 0:
        return []
    seqs = recs["seq"].tolist()
    ts = recs["ts"].tolist()
    dur = recs["dur"].tolist()
    cpu = recs["cpu"].tolist()
    pid = recs["pid"].tolist()
    tid = recs["tid"].tolist()
    # Up to the first NUL: the kernel copies the task's whole 16-byte name.
    comm = [c.split(b"\0", 1)[0].decode("utf-8", "replace") for c in recs["comm"].tolist()]
    nrs = recs["nr"].tolist()
    args = recs["args"].tolist()
    ret = recs["ret"].tolist()
    done = recs["done"].tolist()
    cap_off = recs["cap_off"].tolist()
    cap_len = recs["cap_len"].tolist()
    cap_full = recs["cap_full"].tolist()
    # The kernel's word on whether it read an argument's memory: an empty
    # capture counts, a failed read does not (its cap_full may still be set)
    # and has its UNREADABLE bit (2 + j) set instead.
    read_ok = recs["captured"].tolist()
    rows = read.rows.tolist()
    data = read.data
    size = data.shape[1] if data.ndim == 2 else 0
    out: list[list[Any]] = []
    for i in range(len(seqs)):
        nr = nrs[i]
        if nr == SIG_NR:
            # A signal delivery: args hold signo, si_code and the siginfo's
            # union, ret its si_errno (docs/dump-format.md).
            out.append([seqs[i], ts[i], None, cpu[i], pid[i], tid[i], comm[i], SIGNAL, args[i],
                        ret[i], []])  # fmt: skip
            continue
        captured: list[list[Any]] = []
        spec = kinds.get(nr)
        if spec:
            for j, (arg, kind, _len_arg) in enumerate(spec[:2]):
                if read_ok[i] >> j & 1:
                    off, length = cap_off[i][j], cap_len[i][j]
                    if off + length <= size:
                        blob = data[rows[i], off : off + length].tobytes()
                        captured.append([arg, kind, blob, cap_full[i][j]])
                elif read_ok[i] >> (j + 2) & 1:
                    captured.append([arg, kind, UNREADABLE, cap_full[i][j]])
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
                ret[i] if done[i] == 1 else None,  # 2: cut by a kill (`= ?`)
                captured,
            ]
        )
    return out
