"""Kernel memory per recorded container at the default settings.

Computed from the layout (Settings().slab_bytes, the slab meta, one cgslab
entry) and cross-checked against what the kernel charges for each map: the
`memlock` of /proc/self/fdinfo/<map fd>, and `bpftool map show` when bpftool
is installed. Recording threads keep their pairing state in the
preallocated `xthreads` table (one bucket each); a thread whose bucket is
taken uses task storage instead, allocated on its first recorded call and
freed when it ends, whose size comes from the running kernel's BTF.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

from harness import BenchCgroups, load_kernel, run_in

from sidecar.kernel.layout import META_DTYPE, Settings

MAP_TYPES = {"1": "hash", "2": "array", "6": "percpu_array", "22": "queue", "27": "ringbuf"}
MAP_TYPES["29"] = "task_storage"


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


def btf_size(struct: str) -> int | None:
    """sizeof(struct `struct`) in the running kernel, from its BTF (needs bpftool)."""
    if not shutil.which("bpftool"):
        return None
    p = subprocess.run(
        ["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "raw"],
        capture_output=True,
        text=True,
    )
    m = re.search(rf"STRUCT '{re.escape(struct)}' size=(\d+)", p.stdout)
    return int(m.group(1)) if m else None


def kmalloc_bucket(n: int) -> int:
    """The kmalloc size class an allocation of n bytes lands in."""
    for b in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192):
        if n <= b:
            return b
    return n


def run(cgs: BenchCgroups) -> dict[str, Any]:
    s = Settings()
    before = set(bpf_map_fds())
    k = load_kernel(s, cgs.rec)
    try:
        run_in(cgs.rec, ["true"])  # one recorded container: a slab and a cgslab entry in use
        mine = {i: m for i, m in bpf_map_fds().items() if i not in before}
        tool = bpftool_maps(set(mine))
        names = {i: str(tool[i].get("name", "?")) for i in tool}
        for name in ("slots", "slabs", "cgslab"):
            names[int(fdinfo(k.bpf[name.encode()].map_fd)["map_id"])] = name
    finally:
        k.close()

    print(f"maps of one loaded recorder (Settings() defaults: {s.containers} slabs of {s.slots})")
    print(
        f"  {'map':<12} {'type':<13} {'entries':>8} {'value B':>8} {'memlock B':>12} {'bpftool':>12}"
    )
    rows: list[dict[str, Any]] = []
    for i, m in sorted(mine.items(), key=lambda kv: -int(kv[1]["memlock"])):
        row: dict[str, Any] = {
            "name": names.get(i, f"id {i}"),
            "type": MAP_TYPES.get(m["map_type"], m["map_type"]),
            "max_entries": int(m["max_entries"]),
            "value_size": int(m["value_size"]),
            "memlock": int(m["memlock"]),
            "bpftool_memlock": tool.get(i, {}).get("bytes_memlock"),
        }
        rows.append(row)
        print(
            f"  {row['name']:<12} {row['type']:<13} {row['max_entries']:>8} "
            f"{row['value_size']:>8} {row['memlock']:>12,} {row['bpftool_memlock'] or '-':>12}"
        )  # fmt: skip
    total = sum(r["memlock"] for r in rows)
    by = {r["name"]: r for r in rows}
    slots_memlock = by["slots"]["memlock"]
    cg_entry = by["cgslab"]["memlock"] / by["cgslab"]["max_entries"]
    meta = META_DTYPE.itemsize
    per = s.slab_bytes + meta + cg_entry
    ls, selem = btf_size("bpf_local_storage"), btf_size("bpf_local_storage_elem")
    inflight = 16  # struct inflight
    per_thread = (
        kmalloc_bucket(ls) + kmalloc_bucket(selem + inflight) if ls and selem else None
    )  # fmt: skip

    print()
    print("per recorded container (default settings):")
    for label, n in (
        (f"slab: {s.slots} slots x {s.slot_size} B", s.slab_bytes),
        ("slab meta", meta),
        ("cgslab entry (memlock / entries)", cg_entry),
        ("total", per),
    ):
        print(f"  {label:<36} = {n:>12,.0f} B")
    print(f"  {'':<36}   ({per / 2**20:.2f} MiB)")
    print(
        f"  {'cross-check: slots memlock / slabs':<36} = {slots_memlock / s.containers:>12,.0f} B "
        f"(slots map {slots_memlock:,} B for {s.containers} slabs)"
    )
    if per_thread:
        print(
            f"  + per recorded thread whose xthreads bucket is taken, while it lives: task storage "
            f"~{per_thread} B (bpf_local_storage {ls} B + elem {selem}+{inflight} B, kmalloc-rounded)"
        )
    print(
        f"preallocated for the whole node at load: {total:,} B ({total / 2**20:.1f} MiB), "
        f"whether {s.containers} containers are recorded or none"
    )
    return {
        "maps": rows,
        "per_container_bytes": per,
        "slab_bytes": s.slab_bytes,
        "meta_bytes": meta,
        "cgslab_entry_bytes": cg_entry,
        "per_thread_bytes": per_thread,
        "node_total_bytes": total,
    }
