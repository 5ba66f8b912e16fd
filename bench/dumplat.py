"""Dump latency: from freezing a full window to a durable dump file.

For the default window (4096 calls) and a 64k-call one: bench/out/fill makes
twice as many calls as the window holds (openat, read, write, close: path
strings and buffers in most calls) in the recorded cgroup; then the clock runs
from `Kernel.freeze` to the return of `LocalSink(tmp).store(name, Recorder.writer(...))`,
the same call `traceloop record` makes (written to a temporary name, fsynced,
renamed, directory fsynced). Median over rounds, then one more pass timed
piece by piece to show where the time goes.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import OUT, BenchCgroups, compile_c, load_kernel, median, run_in, spread, verdict

from sidecar.dump.naming import DumpName
from sidecar.dump.reader import DumpReader
from sidecar.dump.writer import write_dump
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel
from sidecar.kernel.recorder import Recorder, Snapshot
from sidecar.kernel.slab import read_slab, to_records
from sidecar.model.trigger import Trigger
from sidecar.sinks.local import LocalSink

TARGET_MS = 100.0


def _trigger() -> Trigger:
    return Trigger(reason="manual", source="bench", ts_ns=0, time="2026-01-01T00:00:00.000Z")


def _fill(k: Kernel, cgs: BenchCgroups, fill: Path, slots: int) -> int:
    p = run_in(cgs.rec, [str(fill), str(2 * slots)])
    if p.returncode != 0:
        raise RuntimeError(f"fill failed: {p.stderr[-300:]}")
    slab: int = k.cgroups()[cgs.rec.id]
    if k.usage(slab)["calls"] < slots:
        raise RuntimeError("the window is not full after the fill")
    return slab


def _store(rec: Recorder, sink: LocalSink, slab: int, n: int) -> str:
    name = DumpName(time=_trigger().time, reason="manual", id=f"bench-{n}", container="bench")
    return sink.store(name, rec.writer(slab, [_trigger()], {"name": "bench", "runtime": "bench"}))


def one_size(
    cgs: BenchCgroups, settings: Settings, nrounds: int, profile: bool, fill: Path
) -> dict[str, Any]:
    k = load_kernel(settings, cgs.rec)
    tmp = Path(tempfile.mkdtemp(prefix="dumps-", dir=OUT))
    sink = LocalSink(tmp)
    rec = Recorder(k)
    times: list[float] = []
    out: dict[str, Any] = {"slots": settings.slots, "memory": settings.memory}
    try:
        for rnd in range(nrounds):
            slab = _fill(k, cgs, fill, settings.slots)
            t0 = time.perf_counter()
            k.freeze(slab)
            path = _store(rec, sink, slab, rnd)
            times.append((time.perf_counter() - t0) * 1e3)
            if rnd == 0:
                with DumpReader(path) as r:
                    out["records"] = sum(1 for _ in r)
                out["file_bytes"] = os.path.getsize(path)
            os.unlink(path)
            k.thaw(slab)

        # Piece by piece, on one more full window.
        slab = _fill(k, cgs, fill, settings.slots)
        k.freeze(slab)
        meta = k.meta[slab]
        t0 = time.perf_counter()
        read = read_slab(meta, k.chunks, k.chunkhdrs, window=settings.slots)
        t1 = time.perf_counter()
        out["chunks"] = k.usage(slab)["chunks"]
        records = to_records(read, k.kinds)
        t2 = time.perf_counter()
        snap = Snapshot(read, int(meta["after_freeze"]), records)
        header = rec.header(snap, [_trigger()], {"name": "bench"})
        t3 = time.perf_counter()
        name = DumpName(time=_trigger().time, reason="manual", id="parts", container="bench")
        path = sink.store(name, lambda f: write_dump(f, header, records))
        t4 = time.perf_counter()
        parts = {
            "read (mmap copy + seq check)": (t1 - t0) * 1e3,
            "decode (slab.to_records)": (t2 - t1) * 1e3,
            "header": (t3 - t2) * 1e3,
            "write + fsync + rename": (t4 - t3) * 1e3,
        }
        os.unlink(path)
        if profile:
            prof = cProfile.Profile()
            prof.enable()
            os.unlink(_store(rec, sink, slab, 9999))
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(18)
            out["profile"] = s.getvalue()
    finally:
        k.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out.update({"ms": times, "median_ms": median(times), "parts_ms": parts})
    return out


def run(cgs: BenchCgroups, quick: bool, rounds: int | None, profile: bool) -> dict[str, Any]:
    fill = compile_c("fill")
    nrounds = rounds or (3 if quick else 9)
    results: dict[str, Any] = {}
    for label, settings in (
        ("default", Settings()),
        # A 64k window of these calls takes ~20 MiB; the latency does not
        # depend on how many containers the budget holds, so this one has 4.
        ("64k", Settings(slots=65536, containers=4)),
    ):
        print(f"{label}: a window of {settings.slots} calls, {nrounds} rounds")
        results[label] = r = one_size(cgs, settings, nrounds, profile, fill)
        print(
            f"  freeze -> durable file: median {r['median_ms']:.1f} ms ({spread(r['ms'])}); "
            f"{r['records']} records, {r['file_bytes'] / 1e6:.2f} MB, "
            f"{r['chunks']} chunks of {settings.chunk // 1024} KiB in kernel memory"
        )
        print("  where the time goes (one pass): " + ", ".join(
            f"{k} {v:.1f} ms" for k, v in r["parts_ms"].items()
        ))  # fmt: skip
        if "profile" in r:
            print(r["profile"])
    d = results["default"]["median_ms"]
    print(f"\ndefault slab: {d:.1f} ms, target < {TARGET_MS:.0f} ms: {verdict(d < TARGET_MS)}")
    return results
