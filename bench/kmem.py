"""Kernel memory: what the recorder's maps take (the node budget), and what
300 idle containers and 8 busy ones hold of it.

The recorder is loaded with the default settings (`--memory` 128M) on the
bench's `rec` cgroup. Then, each in a cgroup of its own below `rec`:

  idle   300 `sleep` processes: their start-up calls, then nothing
  busy   8 bench/fill processes at once (openat, read, write, close: a path or
         a buffer in most calls), BUSY_CALLS calls each, ten windows' worth

and the bench reports every map's memlock (what the kernel charges for it:
/proc/self/fdinfo, and `bpftool map show` when installed), the pool (chunks
held), and per container the chunks and bytes it holds, the calls it made,
and its window: the calls a dump would hold, and how many of them have
every capture their syscall asks for.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from functools import partial
from typing import Any

from harness import BenchCgroups, compile_c, load_kernel, median

from sidecar.host import cgroups
from sidecar.host.cgroups import Cgroup
from sidecar.kernel.btf import BTF, BTFError
from sidecar.kernel.layout import REC_BYTES, Settings
from sidecar.kernel.loader import Kernel
from sidecar.kernel.slab import read_slab

MAP_TYPES = {"1": "hash", "2": "array", "6": "percpu_array", "22": "queue", "27": "ringbuf"}
MAP_TYPES["29"] = "task_storage"
IDLE = 300
BUSY = 8
BUSY_CALLS = 40_000


def fdinfo(fd: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def bpf_map_fds() -> dict[int, dict[str, str]]:
    """map id -> fdinfo for every BPF map this process holds."""
    maps = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:bpf-map":
                continue
            info = fdinfo(int(fd))
        except OSError:
            continue
        maps[int(info["map_id"])] = info
    return maps


def bpftool_maps(ids: set[int]) -> dict[int, dict[str, Any]]:
    if not shutil.which("bpftool"):
        return {}
    p = subprocess.run(["bpftool", "map", "show", "-j"], capture_output=True, text=True)
    try:
        return {m["id"]: m for m in json.loads(p.stdout) if m["id"] in ids}
    except (json.JSONDecodeError, KeyError):
        return {}


def kmalloc_bucket(n: int) -> int:
    """The kmalloc size class an allocation of n bytes lands in."""
    for b in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192):
        if n <= b:
            return b
    return n


NAMES = (
    "chunks", "chunkhdrs", "slabs", "cgslab", "chunkq", "freeq", "releaseq", "xthreads",
    "exiting", "oom_victims", "cgcache", "scinfo", "stats", "events", "pool",
)  # fmt: skip


def map_rows(k: Kernel, before: set[int]) -> list[dict[str, Any]]:
    """Every map the loaded recorder made, biggest first."""
    mine = {i: m for i, m in bpf_map_fds().items() if i not in before}
    tool = bpftool_maps(set(mine))
    names = {}
    for name in NAMES:
        try:
            names[int(fdinfo(k.bpf[name.encode()].map_fd)["map_id"])] = name
        except KeyError:
            continue
    rows = []
    for i, m in sorted(mine.items(), key=lambda kv: -int(kv[1]["memlock"])):
        rows.append(
            {
                "name": names.get(i, str(tool.get(i, {}).get("name", f"id {i}"))),
                "type": MAP_TYPES.get(m["map_type"], m["map_type"]),
                "max_entries": int(m["max_entries"]),
                "value_size": int(m["value_size"]),
                "memlock": int(m["memlock"]),
                "bpftool_memlock": tool.get(i, {}).get("bytes_memlock"),
            }
        )
    return rows


def window(k: Kernel, slab: int) -> dict[str, int]:
    """What a dump of `slab` would hold now: calls, and calls with every capture
    their syscall asks for (a failed call's output buffer is not asked for)."""
    s = k.settings
    r = read_slab(k.meta[slab], k.chunks, k.chunkhdrs, window=s.slots)
    whole = 0
    for nr, ret, got in zip(
        r.recs["nr"].tolist(), r.recs["ret"].tolist(), r.recs["captured"].tolist(), strict=True
    ):
        spec = k.kinds.get(nr, [])
        want = sum(1 << j for j, c in enumerate(spec[:2]) if ret >= 0 or c[1] not in (3, 5, 7))
        whole += (got & want) == want
    u = k.usage(slab)
    return {
        "calls": u["calls"],
        "window": len(r.recs),
        "with_captures": whole,
        "chunks": u["chunks"],
        "bytes": u["bytes"] + s.meta_size,
    }


def run(cgs: BenchCgroups) -> dict[str, Any]:
    s = Settings()
    fill = compile_c("fill")
    before = set(bpf_map_fds())
    k = load_kernel(s, cgs.rec)
    idle: list[tuple[Cgroup, subprocess.Popen[bytes]]] = []
    busy: list[Cgroup] = []
    try:
        rows = map_rows(k, before)
        t0 = time.monotonic()
        for i in range(IDLE):
            cg = cgroups.create(cgs.rec, f"idle-{i}")
            p = subprocess.Popen(["sleep", "3600"], preexec_fn=partial(cgroups.join, cg))
            idle.append((cg, p))
        started = time.monotonic() - t0
        busy = [cgroups.create(cgs.rec, f"busy-{i}") for i in range(BUSY)]
        procs = [
            subprocess.Popen([str(fill), str(BUSY_CALLS)], preexec_fn=partial(cgroups.join, cg))
            for cg in busy
        ]
        for p in procs:
            if p.wait(timeout=600) != 0:
                raise RuntimeError("bench/fill failed")
        time.sleep(0.5)  # the sleeps are asleep by now
        slabs = k.cgroups()
        idle_w = [window(k, slabs[cg.id]) for cg, _ in idle if cg.id in slabs]
        busy_w = [window(k, slabs[cg.id]) for cg in busy]
        pool = k.pool()
        stats = k.stats()
    finally:
        for _cg, p in idle:
            p.kill()
            p.wait()
        k.close()
        for cg in [c for c, _ in idle] + busy:
            cgroups.remove(cg)
    return report(s, rows, pool, stats, idle_w, busy_w, started)


def report(
    s: Settings,
    rows: list[dict[str, Any]],
    pool: dict[str, int],
    stats: dict[str, int],
    idle_w: list[dict[str, int]],
    busy_w: list[dict[str, int]],
    started: float,
) -> dict[str, Any]:
    total = sum(r["memlock"] for r in rows)
    print(
        f"maps of one loaded recorder, default settings: --memory {s.memory >> 20}M, "
        f"{s.containers} container slots, {s.nchunks} chunks of {s.chunk // 1024} KiB, "
        f"floor {s.floor} chunks, {s.spare} spare"
    )
    print(
        f"  {'map':<12} {'type':<13} {'entries':>8} {'value B':>8} {'memlock B':>12} {'bpftool':>12}"
    )
    for r in rows:
        print(
            f"  {r['name']:<12} {r['type']:<13} {r['max_entries']:>8} {r['value_size']:>8} "
            f"{r['memlock']:>12,} {r['bpftool_memlock'] or '-':>12}"
        )
    print(f"  total {total:,} B ({total / 2**20:.1f} MiB) of a {s.memory >> 20} MiB budget")
    print()
    n_idle = len(idle_w)
    print(
        f"{n_idle} idle containers (sleep) and {len(busy_w)} busy ones (bench/fill, {BUSY_CALLS:,} calls each), at once:"
    )
    chunks_idle = sorted(w["chunks"] for w in idle_w)
    bytes_idle = [w["bytes"] for w in idle_w]
    print(
        f"  idle: chunks held {chunks_idle[0]}..{chunks_idle[-1]} (median {median(chunks_idle):.0f}), "
        f"kernel memory each {min(bytes_idle) / 1024:.1f}..{max(bytes_idle) / 1024:.1f} KiB "
        f"(chunks + slot meta); window = every call: "
        f"{sum(w['window'] == w['calls'] for w in idle_w)} of {n_idle}; started in {started:.1f} s"
    )
    print(f"  {'busy':<6} {'calls':>8} {'window':>8} {'w/ captures':>12} {'chunks':>7} {'KiB':>8}")
    for i, w in enumerate(busy_w):
        print(
            f"  {i:<6} {w['calls']:>8,} {w['window']:>8,} {w['with_captures']:>12,} "
            f"{w['chunks']:>7} {w['bytes'] / 1024:>8,.0f}"
        )
    held = pool["held"]
    print(
        f"  pool: {held:,} of {pool['chunks']:,} chunks held ({held * s.chunk / 2**20:.1f} MiB), "
        f"{pool['beyond_floors']} beyond floors; kernel counters {stats}"
    )
    try:
        b = BTF.load()
        ls, selem = b.struct_size("bpf_local_storage"), b.struct_size("bpf_local_storage_elem")
        per_thread = kmalloc_bucket(ls) + kmalloc_bucket(selem + 16)
        print(
            f"  + per recorded thread whose xthreads bucket is taken, while it lives: task "
            f"storage ~{per_thread} B (bpf_local_storage {ls} B + elem {selem}+16 B, "
            "kmalloc-rounded)"
        )
    except BTFError:
        per_thread = None
    return {
        "maps": rows,
        "total_memlock": total,
        "memory": s.memory,
        "containers": s.containers,
        "chunks": s.nchunks,
        "chunk_bytes": s.chunk,
        "record_bytes": REC_BYTES,
        "floor_chunks": s.floor,
        "idle": idle_w,
        "busy": busy_w,
        "pool": pool,
        "stats": stats,
        "per_thread_bytes": per_thread,
    }
