"""Throughput of `traceloop show`: calls rendered per second, per output form.

    .venv/bin/python bench/bench_show.py [--records N] [--keep FILE] [--baseline DIR]

Builds a synthetic dump of N calls (default 500,000) whose records are copies of
the calls in the dumps recorded from real programs under tests/data/ (so the
mix of paths, buffers, sockaddrs, flags and errors is a real one), with fresh
sequence numbers and times. Then runs `traceloop show` on it for each output
form, as a user would (a new process, output to /dev/null), and prints calls
per second. Reading alone (DumpReader, no rendering) is measured too: it is the
floor every form stands on.

With --baseline DIR (a checkout of other code, e.g. `git worktree add DIR
main`), every form also runs from DIR's `sidecar` on the same dump, in the same
rounds, so a change is measured against its baseline side by side rather than
against figures from another day.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sidecar.dump.reader import DumpReader  # noqa: E402
from sidecar.dump.writer import write_dump  # noqa: E402

DATA = ROOT / "tests" / "data"
TRACELOOP = ROOT / ".venv" / "bin" / "traceloop"

FORMS: dict[str, list[str]] = {
    "json": ["-o", "json"],
    "table": [],  # fitted to COLUMNS=160
    "table --wide": ["--wide"],
    "strace": ["-o", "strace"],
    "summary": ["--summary"],
}


def templates() -> tuple[dict[str, Any], list[list[Any]]]:
    header: dict[str, Any] = {}
    recs: list[list[Any]] = []
    for path in sorted(DATA.glob("*.msgpack.zst")):
        with DumpReader(path) as r:
            header = header or {k: v for k, v in r.header.items() if k not in ("format", "version")}
            recs.extend(r)
    return header, recs


def synthetic(n: int, recs: list[list[Any]]) -> Iterator[list[Any]]:
    ts = 1_000_000_000
    for i in range(n):
        rec = list(recs[i % len(recs)])
        ts += 1_500
        rec[0], rec[1] = i + 1, ts
        yield rec


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run."""
    env = dict(os.environ, COLUMNS="160")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "wb") as null:
        t = time.perf_counter()
        subprocess.run(cmd, stdout=null, check=True, env=env)
        wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def timed(cmds: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall and best CPU time of each command over `repeat` rounds.

    This machine is shared: other work comes and goes in bursts. Each round runs
    every command once (round-robin, so a burst slows all of them alike), and
    the best of the rounds counts: interference only ever adds time. CPU time
    is shown too: it stays closer than wall time to what a run needs."""
    best = {name: (float("inf"), float("inf")) for name in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            wall, cpu = run_once(cmd)
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def _from(tree: Path) -> list[str]:
    """A `traceloop` command that runs the code in `tree`."""
    launch = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); from sidecar.cli import main; "
        "sys.argv[0] = 'traceloop'; sys.exit(main())"
    )
    return [sys.executable, "-c", launch, str(tree)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=5, help="rounds; the best of each counts")
    ap.add_argument("--keep", help="write the synthetic dump here and keep it")
    ap.add_argument("--baseline", metavar="DIR", help="also run each form from DIR's code")
    args = ap.parse_args()
    header, recs = templates()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep or Path(tmp) / "bench.msgpack")
        with open(path, "wb") as f:
            write_dump(f, header, synthetic(args.records, recs))
        size = path.stat().st_size
        print(f"{args.records} calls, {size / 1e6:.1f} MB, from {len(recs)} recorded calls")
        read = [sys.executable, "-c",
                "import sys; from sidecar.dump.reader import DumpReader\n"
                "with DumpReader(sys.argv[1]) as r:\n    for _ in r: pass", str(path)]  # fmt: skip
        # Start-up (interpreter, imports, the dump's syscall table) is paid once
        # per run: measured on the same header with no calls, and taken out in
        # the `net` column, which is the rendering rate a long dump sees.
        empty = Path(tmp) / "empty.msgpack"
        with open(empty, "wb") as f:
            write_dump(f, header, [])
        cmds = {"start-up": [str(TRACELOOP), "show", "-o", "json", str(empty)],
                "read only (DumpReader)": read}  # fmt: skip
        for name, opts in FORMS.items():
            if args.baseline:
                # Both sides start the same way: only the code on sys.path differs.
                for tree, label in ((ROOT, ""), (Path(args.baseline), " (base)")):
                    cmds[f"show {name}{label}"] = [*_from(tree), "show", *opts, str(path)]
            else:
                cmds[f"show {name}"] = [str(TRACELOOP), "show", *opts, str(path)]
        results = timed(cmds, args.repeat)
        start_wall, start_cpu = results.pop("start-up")
        rows = list(results.items())
        print(f"start-up: {start_wall:.2f} s wall, {start_cpu:.2f} s cpu")
        head = (
            f"{'':<30} {'wall s':>7} {'calls/s':>10} {'cpu s':>7} {'calls/cpu-s':>12} {'net':>10}"
        )
        print(head)
        n = args.records
        for name, (wall, cpu) in rows:
            net = n / (cpu - start_cpu) if name.startswith("show") else n / cpu
            print(
                f"{name:<30} {wall:7.2f} {n / wall:10,.0f} {cpu:7.2f} {n / cpu:12,.0f} {net:10,.0f}"
            )


if __name__ == "__main__":
    main()
