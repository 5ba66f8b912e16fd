"""traceloop-sidecar benchmarks (issue 2): one entry point for all of them.

    sudo .venv/bin/python bench/run.py                 # everything (~7 min)
    sudo .venv/bin/python bench/run.py --quick         # everything, short (~3 min)
    sudo .venv/bin/python bench/run.py percall dump    # a subset

Sections: percall (getppid loop: floor, recorded, unrecorded, strace, perf
trace), anatomy (in-kernel run time of the programs and of each helper), sysbench (fileio seqrd throughput), dump (freeze-to-durable-file
latency), memory (the node budget; 300 idle and 8 busy containers), scaling
(memory and per-call cost against containers and window). Figures are ratios
and medians of variants measured side by side in one run; the raw rounds go
to bench/out/results-*.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import OUT, bench_cgroups, loadavg, require_root

SECTIONS = ("percall", "anatomy", "sysbench", "dump", "memory", "scaling")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "sections",
        nargs="*",
        metavar="SECTION",
        help=f"which benchmarks to run: {', '.join(SECTIONS)} (default: all)",
    )
    p.add_argument("--quick", action="store_true", help="fewer rounds and iterations")
    p.add_argument("--rounds", type=int, help="rounds per benchmark (overrides the default)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="dump: also profile Recorder.store with cProfile and print the top functions",
    )
    p.add_argument(
        "--compare-bpf",
        type=Path,
        metavar="DIR",
        help="percall, anatomy, sysbench: also measure DIR/recorder.bpf.c (a modified kernel "
        "side), or, when DIR is a checkout of another commit, that commit's recorder with "
        "its own loader (percall, sysbench)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        metavar="SECONDS",
        help="before each round, wait up to this long for other processes' BPF programs "
        "on sys_enter/sys_exit to go (default 60, 5 with --quick)",
    )
    p.add_argument("--json", type=Path, help="where to write the results (default bench/out/)")
    args = p.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    require_root()
    sections = args.sections or list(SECTIONS)
    harness.QUIET_WAIT = args.quiet_wait

    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    print(
        f"traceloop-sidecar benchmarks, {started}, kernel {platform.release()}, "
        f"{os.cpu_count()} CPUs, load average {loadavg()}"
    )
    results: dict[str, Any] = {
        "started": started,
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "argv": sys.argv,
        "load_before": loadavg(),
    }
    with bench_cgroups() as cgs:
        for name in sections:
            print(f"\n=== {name} ===")
            t0 = time.monotonic()
            if name == "percall":
                import percall

                results[name] = percall.run(cgs, args.quick, args.rounds, args.compare_bpf)
            elif name == "anatomy":
                import anatomy

                results[name] = anatomy.run(cgs, args.quick, args.compare_bpf)
            elif name == "sysbench":
                import fileio

                results[name] = fileio.run(cgs, args.quick, args.rounds, args.compare_bpf)
            elif name == "dump":
                import dumplat

                results[name] = dumplat.run(cgs, args.quick, args.rounds, args.profile)
            elif name == "memory":
                import kmem

                results[name] = kmem.run(cgs)
            elif name == "scaling":
                import scaling

                results[name] = scaling.run(cgs, args.quick, args.rounds)
            print(f"({name}: {time.monotonic() - t0:.0f} s, load average now {loadavg()})")
    results["load_after"] = loadavg()
    OUT.mkdir(exist_ok=True)
    out = args.json or OUT / f"results-{started.replace(':', '')}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nload average before {results['load_before']}, after {results['load_after']}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
