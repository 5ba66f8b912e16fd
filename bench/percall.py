"""Per-syscall cost on a tight getppid() loop, every variant side by side.

Variants (all run bench/out/getppid; the C loop times itself):

  none         no tracing at all (every program detached)
  floor        empty raw-tracepoint programs on sys_enter and sys_exit (bench/floor.py)
  floor-tp     the same empty programs on classic tracepoints
  rec-raw      recorded by traceloop (loop in the recorded cgroup), raw tracepoints
  unrec-raw    traceloop loaded and recording another cgroup; the loop is outside its root
  ignored-raw  the loop's cgroup is explicitly ignored (Kernel.ignore): one map hit
  rec-tp       as rec-raw, classic tracepoints (Settings(raw_tracepoints=False))
  unrec-tp     as unrec-raw, classic tracepoints
  strace       strace -f -o /dev/null
  perf         perf trace -o /dev/null
  rec-alt, unrec-alt   with --compare-bpf DIR: DIR/recorder.bpf.c, raw tracepoints

A run's figure is the ns/call of its fastest batch (bench/getppid.c). Each
round runs every variant once, in an order rotated from round to round;
overheads are taken against that round's `none` and ratios within the round,
and the medians over rounds are reported. Rounds during which another process
had BPF programs on sys_enter/sys_exit (say, someone running the BPF tests)
are flagged and left out when enough clean rounds remain.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import floor
from harness import (
    BenchCgroups,
    Probes,
    compile_c,
    foreign_syscall_probes,
    load_kernel,
    median,
    only,
    quiet_wait,
    run_in,
    spread,
    verdict,
    wait_for_quiet,
)

from sidecar.cgroups import Cgroup
from sidecar.kernel import Kernel
from sidecar.layout import Settings

# Each run's figure is its fastest batch (see getppid.c): interference on a
# shared machine only ever adds time.
BATCHES = "40"


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    probes: Probes | None  # the one program set attached while it runs
    cgroup: Cgroup
    wrapper: tuple[str, ...] = ()  # strace / perf trace command prefix
    slow: bool = False  # fewer iterations (tracers that stop the world per call)


@dataclass(frozen=True)
class Ratio:
    name: str
    num: str  # variant whose overhead is divided...
    den: str  # ...by this one's
    limit: float | None = None  # the target, None: for information
    at_most: bool = True  # target is ratio <= limit (else >= limit)

    @property
    def target(self) -> str:
        if self.limit is None:
            return "(info)"
        return f"{'<=' if self.at_most else '>='} {self.limit:g}x"

    def ok(self, r: float) -> bool:
        if self.limit is None:
            return True
        return r <= self.limit if self.at_most else r >= self.limit


RATIOS = [
    Ratio("recorded / floor (raw tp)", "rec-raw", "floor", 2),
    Ratio("unrecorded / floor (raw tp)", "unrec-raw", "floor", 1.25),
    Ratio("ignored cgroup / floor (raw tp)", "ignored-raw", "floor"),
    Ratio("recorded / floor (classic tp)", "rec-tp", "floor"),
    Ratio("unrecorded / floor (classic tp)", "unrec-tp", "floor"),
    Ratio("recorded classic / classic floor", "rec-tp", "floor-tp"),
    Ratio("unrecorded classic / classic floor", "unrec-tp", "floor-tp"),
    Ratio("ALT recorded / floor (raw tp)", "rec-alt", "floor"),
    Ratio("ALT unrecorded / floor (raw tp)", "unrec-alt", "floor"),
    Ratio("strace -f / recorded", "strace", "rec-raw", 50, at_most=False),
    Ratio("perf trace / recorded", "perf", "rec-raw", 25, at_most=False),
]


@dataclass
class Results:
    iterations: dict[str, int]
    rounds: list[dict[str, float]] = field(default_factory=list)  # fastest batch, ns/call
    means: list[dict[str, float]] = field(default_factory=list)  # whole loop, ns/call
    disturbed: list[list[str]] = field(default_factory=list)  # foreign probes per round
    notes: list[str] = field(default_factory=list)

    def used(self, means: bool = False) -> list[dict[str, float]]:
        """The rounds the figures come from: those no other BPF tracer disturbed,
        if there are at least 3 of them, else all (and the report says so)."""
        rounds = self.means if means else self.rounds
        clean = [r for r, d in zip(rounds, self.disturbed, strict=True) if not d]
        return clean if len(clean) >= 3 else rounds

    def overheads(self, name: str) -> list[float]:
        return [r[name] - r["none"] for r in self.used() if name in r]

    def ratios(self, num: str, den: str, means: bool = False) -> list[float]:
        out = []
        for r in self.used(means):
            if num in r and den in r:
                d = r[den] - r["none"]
                if d > 0:
                    out.append((r[num] - r["none"]) / d)
        return out


def perf_trace_works() -> str | None:
    """None if `perf trace` can trace here, else why not."""
    if not shutil.which("perf"):
        return "perf is not installed"
    p = subprocess.run(
        ["perf", "trace", "-o", "/dev/null", "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        return f"perf trace failed (exit {p.returncode}): {p.stderr.strip()[:300]}"
    return None


def run(
    cgs: BenchCgroups, quick: bool, rounds: int | None, alt_bpf: Path | None = None
) -> dict[str, Any]:
    exe = str(compile_c("getppid"))
    # Short runs and many rounds: the noise here comes in bursts (other
    # work on the 2 CPUs), and a median over many short rounds rides it out.
    n_fast = 1_000_000 if quick else 2_000_000
    # strace costs ~100-200 µs and perf trace tens of µs per call here.
    n_slow = {"strace": 3_000 if quick else 10_000, "perf": 20_000 if quick else 50_000}
    nrounds = rounds or (3 if quick else 11)

    print("loading: floor programs, traceloop (raw tracepoints), traceloop (classic)...")
    floor_raw = Probes(floor.load(classic=False))
    floor_tp = Probes(floor.load(classic=True))

    def kernel(raw: bool, bpf_dir: Path | None = None) -> Kernel:
        return load_kernel(Settings(raw_tracepoints=raw), cgs.rec, bpf_dir)

    k_raw = kernel(True)
    k_tp = kernel(False)
    k_raw.ignore(cgs.ignored.id)
    rec_raw, rec_tp = Probes(k_raw.bpf), Probes(k_tp.bpf)
    everything = [floor_raw, floor_tp, rec_raw, rec_tp]
    k_alt = None
    if alt_bpf is not None:
        print(f"  and traceloop from {alt_bpf}/recorder.bpf.c (raw tracepoints), to compare")
        k_alt = kernel(True, alt_bpf)
        rec_alt = Probes(k_alt.bpf)
        everything.append(rec_alt)

    variants = [
        Variant("none", "no tracing", None, cgs.other),
        Variant("floor", "floor: empty raw tp enter+exit", floor_raw, cgs.other),
        Variant("floor-tp", "floor: empty classic tp enter+exit", floor_tp, cgs.other),
        Variant("rec-raw", "traceloop, recorded (raw tp)", rec_raw, cgs.rec),
        Variant("unrec-raw", "traceloop, not recorded (raw tp)", rec_raw, cgs.other),
        Variant("ignored-raw", "traceloop, ignored cgroup (raw tp)", rec_raw, cgs.ignored),
        Variant("rec-tp", "traceloop, recorded (classic tp)", rec_tp, cgs.rec),
        Variant("unrec-tp", "traceloop, not recorded (classic tp)", rec_tp, cgs.other),
        *(
            [
                Variant("rec-alt", "ALT bpf, recorded (raw tp)", rec_alt, cgs.rec),
                Variant("unrec-alt", "ALT bpf, not recorded (raw tp)", rec_alt, cgs.other),
            ]
            if k_alt is not None
            else []
        ),
        Variant(
            "strace", "strace -f -o /dev/null", None, cgs.other,
            ("strace", "-f", "-o", "/dev/null"), True,
        ),
    ]  # fmt: skip
    res = Results(iterations={})
    why_not_perf = perf_trace_works()
    if why_not_perf is None:
        variants.append(
            Variant(
                "perf", "perf trace -o /dev/null", None, cgs.other,
                ("perf", "trace", "-o", "/dev/null", "--"), True,
            )
        )  # fmt: skip
    else:
        res.notes.append(f"perf trace not measured: {why_not_perf}")
        print(f"note: {res.notes[-1]}")
    for v in variants:
        res.iterations[v.name] = n_slow[v.name] if v.slow else n_fast

    try:
        print(f"{nrounds} rounds of {len(variants)} variants, {n_fast:,} getppid() calls each "
              f"(strace {n_slow['strace']:,}, perf trace {n_slow['perf']:,})")  # fmt: skip
        for rnd in range(nrounds):
            only(None, everything)
            foreign = wait_for_quiet(quiet_wait(quick))
            order = variants[rnd % len(variants) :] + variants[: rnd % len(variants)]
            got: dict[str, float] = {}
            means: dict[str, float] = {}
            for v in order:
                only(v.probes, everything)
                p = run_in(v.cgroup, [*v.wrapper, exe, str(res.iterations[v.name]), BATCHES])
                if p.returncode != 0:
                    raise RuntimeError(
                        f"{v.name}: getppid loop failed (exit {p.returncode}): {p.stderr[-500:]}"
                    )
                # The loop prints its figures last; strace/perf may add lines.
                mean, fastest = p.stdout.strip().splitlines()[-1].split()
                got[v.name] = float(fastest)
                means[v.name] = float(mean)
                if v.name == "perf" and "LOST" in p.stderr:
                    res.notes.append(f"round {rnd + 1}: perf trace lost events")
            only(None, everything)
            foreign = sorted(set(foreign) | set(foreign_syscall_probes()))
            res.rounds.append(got)
            res.means.append(means)
            res.disturbed.append(foreign)
            base = got["none"]
            print(
                f"  round {rnd + 1}: none {base:.0f} ns; overhead: "
                + ", ".join(f"{k} {got[k] - base:+.0f}" for k in (v.name for v in variants[1:]))
                + (f"  [DISTURBED: {'; '.join(foreign)}]" if foreign else "")
            )
    finally:
        only(None, everything)
        for fl in (floor_raw, floor_tp):
            fl.bpf.cleanup()
        k_raw.close()
        k_tp.close()
        if k_alt is not None:
            k_alt.close()

    report(res, variants)
    return {
        "iterations": res.iterations,
        "rounds": res.rounds,
        "means": res.means,
        "disturbed": res.disturbed,
        "rounds_used": len(res.used()),
        "notes": res.notes,
        "median_ns": {v.name: median([r[v.name] for r in res.used()]) for v in variants},
        "median_overhead_ns": {v.name: median(res.overheads(v.name)) for v in variants},
        "ratios_on_means": {
            r.name: median(res.ratios(r.num, r.den, means=True))
            for r in RATIOS
            if not r.at_most and res.ratios(r.num, r.den, means=True)
        },
        "ratios": {
            r.name: median(res.ratios(r.num, r.den)) for r in RATIOS if res.ratios(r.num, r.den)
        },
    }


def report(res: Results, variants: list[Variant]) -> None:
    print()
    n_dist = sum(1 for d in res.disturbed if d)
    used = len(res.used())
    print(
        f"per-syscall cost, getppid() loop (medians over {used} of {len(res.rounds)} rounds"
        + (f"; {n_dist} disturbed by other BPF tracers" if n_dist else "")
        + ")"
    )
    if n_dist and used == len(res.rounds):
        print("  WARNING: fewer than 3 undisturbed rounds; figures include disturbed ones")
    print(f"  {'variant':<40} {'ns/call':>10} {'overhead ns':>12} {'x floor':>8}  rounds")
    for v in variants:
        ns = median([r[v.name] for r in res.used()])
        ov = res.overheads(v.name)
        xf = res.ratios(v.name, "floor") if v.name != "none" else []
        print(
            f"  {v.label:<40} {ns:>10.1f} {median(ov):>12.1f} "
            f"{(f'{median(xf):.2f}' if xf else '-'):>8}  {spread(ov)}"
        )
    print()
    print("ratios of overheads (median of per-round ratios)")
    for r in RATIOS:
        if r.num not in res.iterations or r.den not in res.iterations:
            continue  # a variant not run here (perf trace unusable, no --compare-bpf)
        xs = res.ratios(r.num, r.den)
        if not xs:
            print(f"  {r.name:<42} {'n/a':>8}")
            continue
        m = median(xs)
        status = verdict(r.ok(m)) if r.limit is not None else ""
        print(f"  {r.name:<42} {m:>8.2f}x  target {r.target:<8} {status}  ({spread(xs)})")
        if not r.at_most:
            # A tracer's cost per call depends on how fast its two processes
            # wake each other (idle vCPUs wake slowly): its fastest batch is its
            # best case, the whole-loop mean what a traced program sees.
            xm = res.ratios(r.num, r.den, means=True)
            if xm:
                mm = median(xm)
                print(
                    f"  {'  same, on whole-loop means':<42} {mm:>8.2f}x  target {r.target:<8} "
                    f"{verdict(r.ok(mm))}  ({spread(xm)})"
                )
    for n in res.notes:
        print(f"  note: {n}")
