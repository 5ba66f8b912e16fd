"""How kernel memory and per-call cost grow: with the number of containers
recorded, and with the window.

Containers: one recorder (default settings) records the getppid loop's
cgroup; idle containers (a `sleep` each, in cgroups of their own below the
recorded root) are added until N containers are recorded, N = 1, 64, 300,
1000. At each N: the chunks the containers hold (kernel memory in use; the
maps themselves are the fixed budget) and the loop's per-call cost, recorded
and not, next to the floor, measured as percall does (interleaved passes,
fastest pass per round, medians of per-round figures).

Window: one recorder per `--slots` W = 256, 1024, 4096, 16384, 65536, all
loaded at once and measured side by side in the same rounds; for each, the
memory the getppid loop's container holds once it has made more than W
calls, and its per-call cost.
"""

from __future__ import annotations

import subprocess
import time
from functools import partial
from typing import Any

import floor
from harness import AnyProbes, BenchCgroups, Probes, compile_c, load_kernel, median, spread
from percall import PASSES, LoopServer, Results, Variant, measure

from sidecar.host import cgroups
from sidecar.host.cgroups import Cgroup
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel

COUNTS = (1, 64, 300, 1000)
WINDOWS = (256, 1024, 4096, 16384, 65536)


def _cost(res: Results, name: str) -> dict[str, Any]:
    ov = res.overheads(name)
    xf = res.ratios(name, "floor")
    return {"overhead_ns": median(ov), "x_floor": median(xf), "range": spread(xf)}


def containers(cgs: BenchCgroups, exe: str, rounds: int, batch: int, quick: bool) -> list[Any]:
    fl = Probes(floor.load())
    k = load_kernel(Settings(), cgs.rec)
    rec = Probes(k.bpf)
    everything: list[AnyProbes] = [fl, rec]
    variants = [
        Variant("none", "no tracing", None, cgs.other),
        Variant("floor", "floor", fl, cgs.other),
        Variant("rec", "recorded", rec, cgs.rec),
        Variant("unrec", "not recorded", rec, cgs.other),
    ]
    idle: list[tuple[Cgroup, subprocess.Popen[bytes]]] = []
    servers = {cg.name: LoopServer(exe, cg) for cg in (cgs.other, cgs.rec)}
    out = []
    try:
        for s in servers.values():
            s.batch(batch)
        for n in COUNTS:
            # The recorder attached while they start: their start-up calls
            # adopt them (then they sleep and make none).
            fl.set(False)
            rec.set(True)
            while len(idle) < n - 1:
                cg = cgroups.create(cgs.rec, f"scale-{len(idle)}")
                p = subprocess.Popen(["sleep", "3600"], preexec_fn=partial(cgroups.join, cg))
                idle.append((cg, p))
            time.sleep(0.5)
            res = Results(batch=batch)
            measure(res, variants, servers, everything, rounds, batch, quick, verbose=False)
            recorded = len(k.cgroups())
            pool = k.pool()
            row: dict[str, Any] = {
                "containers": recorded,
                "held_chunks": pool["held"],
                "held_mib": pool["held"] * k.settings.chunk / 2**20,
                "rec": _cost(res, "rec"),
                "unrec": _cost(res, "unrec"),
                "floor_ns": median(res.overheads("floor")),
                "redone": res.redone,
            }
            out.append(row)
            print(
                f"  {recorded:>5} containers: {row['held_mib']:6.1f} MiB of chunks held; "
                f"recorded {row['rec']['overhead_ns']:.0f} ns ({row['rec']['x_floor']:.2f}x, "
                f"{row['rec']['range']}), not recorded {row['unrec']['overhead_ns']:.0f} ns "
                f"({row['unrec']['x_floor']:.2f}x), floor {row['floor_ns']:.0f} ns"
            )
    finally:
        for s in servers.values():
            s.close()
        for _cg, p in idle:
            p.kill()
            p.wait()
        fl.bpf.cleanup()
        k.close()
        for cg, _ in idle:
            cgroups.remove(cg)
    return out


def windows(cgs: BenchCgroups, exe: str, rounds: int, batch: int, quick: bool) -> list[Any]:
    fl = Probes(floor.load())
    kernels: dict[int, Kernel] = {}
    out = []
    servers: dict[str, LoopServer] = {}
    try:
        for w in WINDOWS:
            kernels[w] = load_kernel(Settings(slots=w), cgs.rec)
        probes = {w: Probes(k.bpf) for w, k in kernels.items()}
        everything: list[AnyProbes] = [fl, *probes.values()]
        variants = [
            Variant("none", "no tracing", None, cgs.other),
            Variant("floor", "floor", fl, cgs.other),
            *(Variant(f"rec-{w}", f"recorded, window {w}", probes[w], cgs.rec) for w in WINDOWS),
        ]
        servers = {cg.name: LoopServer(exe, cg) for cg in (cgs.other, cgs.rec)}
        # Every recorder sees the loop make more calls than its window holds.
        for w in WINDOWS:
            for p in probes.values():
                p.set(p is probes[w])
            servers[cgs.rec.name].batch(2 * max(WINDOWS))
        res = Results(batch=batch)
        measure(res, variants, servers, everything, rounds, batch, quick, verbose=False)
        for w in WINDOWS:
            k = kernels[w]
            slab = k.cgroups()[cgs.rec.id]
            u = k.usage(slab)
            row: dict[str, Any] = {
                "window": w,
                "chunks": u["chunks"],
                "kib": (u["bytes"] + k.settings.meta_size) / 1024,
                "containers": k.settings.containers,
                "rec": _cost(res, f"rec-{w}"),
            }
            out.append(row)
            print(
                f"  window {w:>6}: the loop's container holds {u['chunks']:>5} chunks "
                f"({row['kib']:,.0f} KiB); {row['containers']} container slots in the budget; "
                f"recorded {row['rec']['overhead_ns']:.0f} ns ({row['rec']['x_floor']:.2f}x, "
                f"{row['rec']['range']})"
            )
        print(
            f"  floor {median(res.overheads('floor')):.0f} ns; {res.redone} measurements repeated"
        )
    finally:
        for s in servers.values():
            s.close()
        fl.bpf.cleanup()
        for k in kernels.values():
            k.close()
    return out


def run(cgs: BenchCgroups, quick: bool, rounds: int | None) -> dict[str, Any]:
    exe = str(compile_c("getppid"))
    batch = 50_000 if quick else 100_000
    n = rounds or (5 if quick else 11)
    print(f"containers recorded at once ({n} rounds each, {PASSES} passes a round):")
    by_count = containers(cgs, exe, n, batch, quick)
    print(f"window (--slots), all side by side ({n} rounds):")
    by_window = windows(cgs, exe, n, batch, quick)
    return {"containers": by_count, "windows": by_window}
