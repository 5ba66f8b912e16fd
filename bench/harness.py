"""Plumbing shared by the benchmarks: root check, cgroups, C helpers,
switching loaded BPF programs on and off, and statistics.

The machine the benchmarks run on is noisy and absolute times drift, so every
benchmark interleaves its variants within a round, repeats rounds, and reports
medians of per-round figures: a variant is always compared with a baseline
measured seconds before or after it, never minutes apart.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.dump.syscalls import SyscallTable
from sidecar.host import cgroups
from sidecar.host.cgroups import Cgroup
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel, KernelConfig
from sidecar.kernel.syscalls import load_table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"


def require_root() -> None:
    if os.geteuid() != 0:
        sys.exit(
            "bench/run.py needs root: it loads BPF programs, creates cgroups and runs\n"
            "strace and perf trace. Run it as root, e.g.\n"
            "  sudo make bench\n"
            "  sudo .venv/bin/python bench/run.py --quick"
        )


def compile_c(name: str) -> Path:
    """bench/NAME.c -> bench/out/NAME, with gcc -O2 (rebuilt every run: it is quick)."""
    OUT.mkdir(exist_ok=True)
    exe = OUT / name
    subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", str(exe), str(BENCH / f"{name}.c")],
        check=True,
    )
    return exe


_TABLE: SyscallTable | None = None


def syscall_table() -> SyscallTable:
    global _TABLE
    if _TABLE is None:
        _TABLE = load_table()
    return _TABLE


@dataclass(frozen=True)
class BenchCgroups:
    """traceloop-bench-PID/{rec,other,ignored} in the cgroup2 hierarchy.

    `rec` is the recorder's root (recorded, adopt_root); `other` is outside
    it (never recorded); `ignored` is for an explicitly ignored cgroup.
    """

    top: Cgroup
    rec: Cgroup
    other: Cgroup
    ignored: Cgroup


@contextmanager
def bench_cgroups() -> Iterator[BenchCgroups]:
    top = cgroups.create(cgroups.resolve_root(None), f"traceloop-bench-{os.getpid()}")
    made = BenchCgroups(
        top,
        cgroups.create(top, "rec"),
        cgroups.create(top, "other"),
        cgroups.create(top, "ignored"),
    )
    try:
        yield made
    finally:
        # Every process we started has been waited for, so the dirs are empty.
        for cg in (made.rec, made.other, made.ignored, made.top):
            cgroups.remove(cg)


def load_kernel(settings: Settings, root: Cgroup, bpf_dir: Path | None = None) -> Kernel:
    """The recorder, recording `root` and every cgroup below it (like
    `traceloop record`), from bpf/ or from `bpf_dir`/recorder.bpf.c."""
    cfg = KernelConfig(settings, root_id=root.id, root_level=root.level, adopt_root=True)
    if bpf_dir is None:
        return Kernel(cfg, syscall_table())
    # sidecar.kernel.bpf_source() reads this when the Kernel is built.
    old = os.environ.get("TRACELOOP_BPF_DIR")
    os.environ["TRACELOOP_BPF_DIR"] = str(bpf_dir)
    try:
        return Kernel(cfg, syscall_table())
    finally:
        if old is None:
            del os.environ["TRACELOOP_BPF_DIR"]
        else:
            os.environ["TRACELOOP_BPF_DIR"] = old


def run_in(
    cg: Cgroup, argv: Sequence[str], timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run argv to completion inside cgroup `cg` (joined before exec, so the
    command's first system call is already in it)."""
    return subprocess.run(
        list(argv),
        preexec_fn=lambda: cgroups.join(cg),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )


class Probes:
    """The tracepoint attachments of one loaded bcc object, switched off and on
    without recompiling, so variants can be interleaved within a round.

    A detached program is not called at all: with everything detached the
    syscall path is the same as with nothing loaded (the raw_syscalls
    tracepoints are disabled again once their last user goes).
    """

    def __init__(self, bpf: Any) -> None:
        self.bpf = bpf
        self.classic = list(bpf.tracepoint_fds)
        self.raw = list(bpf.raw_tracepoint_fds)
        self.attached = True

    def set(self, on: bool) -> None:
        if on == self.attached:
            return
        for tp in self.classic:
            if on:
                fn = b"tracepoint__" + tp.replace(b":", b"__")
                self.bpf.attach_tracepoint(tp=tp, fn_name=fn)
            else:
                self.bpf.detach_tracepoint(tp)
        for tp in self.raw:
            if on:
                self.bpf.attach_raw_tracepoint(tp=tp, fn_name=b"raw_tracepoint__" + tp)
            else:
                self.bpf.detach_raw_tracepoint(tp)
        self.attached = on


class RemoteProbes:
    """A recorder from another source tree (`--compare-bpf DIR` with DIR a
    checkout: its kernel side may need its own loader), loaded by
    bench/altkernel.py in a process of its own and switched on and off like
    Probes."""

    def __init__(self, tree: Path, root: Cgroup, ignored: Cgroup | None, **settings: Any) -> None:
        argv = [sys.executable, str(BENCH / "altkernel.py"), str(tree), str(root.path)]
        if ignored is not None:
            argv.append(str(ignored.path))
        argv += [f"{k}={v}" for k, v in settings.items()]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.attached = True
        self._ack("loading")

    def _ack(self, what: str) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ok":
            raise RuntimeError(f"bench/altkernel.py failed while {what} (exit {self.proc.wait()})")

    def set(self, on: bool) -> None:
        if on == self.attached:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.write("on\n" if on else "off\n")
        self.proc.stdin.flush()
        self._ack("switching")
        self.attached = on

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def is_tree(alt: Path) -> bool:
    """Whether `--compare-bpf DIR` names a whole source tree (else DIR/recorder.bpf.c)."""
    return (alt / "sidecar" / "kernel" / "loader.py").is_file()


AnyProbes = Probes | RemoteProbes


def only(active: AnyProbes | None, everything: Sequence[AnyProbes]) -> None:
    """Detach every program set but `active`, then attach `active`."""
    for p in everything:
        if p is not active:
            p.set(False)
    if active is not None:
        active.set(True)


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def spread(xs: Sequence[float]) -> str:
    """min..max, to show how much the rounds disagree."""
    return f"{min(xs):.3g}..{max(xs):.3g}" if xs else "-"


def loadavg() -> str:
    with suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def foreign_syscall_probes() -> list[str]:
    """Programs that other processes have on raw_syscalls sys_enter/sys_exit.

    Another engineer's BPF tests load the recorder too: while they are
    attached, every syscall of every variant (`none` included) pays their
    cost, so rounds measured then are flagged. Needs bpftool; [] without it.
    """
    if not shutil.which("bpftool"):
        return []
    p = subprocess.run(
        ["bpftool", "perf", "show", "-j"], capture_output=True, text=True, check=False
    )
    try:
        entries = json.loads(p.stdout or "[]")
    except json.JSONDecodeError:
        return []
    me = os.getpid()
    return sorted(
        {
            f"pid {e.get('pid')} prog {e.get('prog_id')} on {e.get('tracepoint')}"
            for e in entries
            if e.get("tracepoint") in ("sys_enter", "sys_exit") and e.get("pid") != me
        }
    )


# Seconds to wait, before each round, for other processes' syscall probes to
# go (run.py --quiet-wait); None: 5 s with --quick, else 60 s.
QUIET_WAIT: float | None = None


def quiet_wait(quick: bool) -> float:
    if QUIET_WAIT is not None:
        return QUIET_WAIT
    return 5 if quick else 60


def wait_for_quiet(max_wait: float) -> list[str]:
    """Wait up to `max_wait` s for foreign syscall probes to go; returns those left."""
    deadline = time.monotonic() + max_wait
    while True:
        foreign = foreign_syscall_probes()
        if not foreign or time.monotonic() >= deadline:
            return foreign
        time.sleep(2)
