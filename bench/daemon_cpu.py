"""The daemon's own CPU while a recorded container makes syscalls as fast as it can.

Recording happens in the kernel; the daemon only wakes for new cgroups,
triggers and process exits. This runs `traceloop daemon` on a fresh cgroup
root, then a getppid loop in a child cgroup (so it is recorded), and reads the
daemon's CPU time (utime + stime from /proc/PID/stat) over the loop, next to
the same span with the daemon idle. Figures: the loop's syscalls per second,
and the daemon's CPU per million recorded syscalls, loaded and idle.

    sudo .venv/bin/python bench/daemon_cpu.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemonutil import daemon  # the same runner the tests use
from harness import compile_c, require_root

from sidecar.host import cgroups

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()
    require_root()
    loop = compile_c("getppid")
    root = cgroups.create(cgroups.resolve_root(None), f"traceloop-bench-cpu-{os.getpid()}")
    child = cgroups.create(root, "busy")
    try:
        with tempfile.TemporaryDirectory() as tmp, daemon(root.path, Path(tmp) / "dumps") as d:
            pid = d.proc.pid
            time.sleep(1.0)
            c0 = cpu_seconds(pid)
            time.sleep(args.seconds)
            idle = cpu_seconds(pid) - c0
            # Enough calls for about `seconds` of looping at ~1M/s and more.
            n = int(args.seconds * 3_000_000)
            c0, t0 = cpu_seconds(pid), time.monotonic()
            out = subprocess.run(
                [str(loop), str(n), "20"], preexec_fn=lambda: cgroups.join(child),
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            span = time.monotonic() - t0
            busy = cpu_seconds(pid) - c0
            recorded = d.metrics().get("traceloop_syscalls_recorded", 0.0)
    finally:
        cgroups.remove(child)
        cgroups.remove(root)
    mean_ns = float(out.stdout.split()[0])
    rate = n / span
    print(
        f"loop: {n:,} getppid calls in {span:.2f} s = {rate / 1e6:.2f} M syscalls/s (mean {mean_ns:.0f} ns/call)"
    )
    print(f"recorded by the kernel side (slab head): {recorded:,.0f}")
    print(
        f"daemon CPU while idle   : {idle:.3f} s over {args.seconds:.1f} s ({100 * idle / args.seconds:.2f}%)"
    )
    print(f"daemon CPU during loop  : {busy:.3f} s over {span:.1f} s ({100 * busy / span:.2f}%)")
    print(f"daemon CPU per 1M recorded syscalls: {1e6 * busy / n * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
