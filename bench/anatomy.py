"""Where the recorder's per-syscall time goes, measured inside the kernel.

With kernel.bpf_stats_enabled=1 the kernel counts each program's run time;
that is how long the recorder's sys_enter/sys_exit bodies take per call in the
recorded, unrecorded and ignored cases. Then a handful of one-helper programs
price each BPF helper the recorder calls on this machine. The stats have an
overhead of their own (two clock reads per run): the empty program shows it,
and it is subtracted. The figures explain the percall ratios; they are not
the overhead of the tracepoint machinery (that is the floor).
"""

from __future__ import annotations

import ctypes
import json
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness import BenchCgroups, compile_c, is_tree, load_kernel, median, run_in

from sidecar.kernel.layout import Settings

STATS = Path("/proc/sys/kernel/bpf_stats_enabled")

# One helper (or map access) each, on the raw sys_enter tracepoint.
PRELUDE = """
#include <uapi/linux/ptrace.h>
struct inflight { u64 seq; u32 idx; u8 kinds; u8 pad[3]; };
BPF_HASH(h, u64, u32, 16384);
BPF_ARRAY(arr, u64, 4);
BPF_TASK_STORAGE(ts, struct inflight);
"""
HELPERS = {
    "empty program (stats overhead)": "",
    "bpf_get_current_cgroup_id": "if (bpf_get_current_cgroup_id() == 1) return 1;",
    "cgroup_id + hash lookup, miss (both)": "u64 c = bpf_get_current_cgroup_id(); if (h.lookup(&c)) return 1;",
    "cgroup_id + hash lookup, hit (both)": "u64 c = bpf_get_current_cgroup_id(); if (h.lookup(&c)) return 1;",
    "bpf_get_current_ancestor_cgroup_id": (
        "if (bpf_get_current_ancestor_cgroup_id(1) == 7) return 1;"
    ),
    "bpf_get_current_pid_tgid": "if (bpf_get_current_pid_tgid() == 7) return 1;",
    "bpf_ktime_get_boot_ns": "if (bpf_ktime_get_boot_ns() == 7) return 1;",
    "bpf_get_current_comm": "char c[16]; bpf_get_current_comm(c, 16); if (c[0] == 7) return 1;",
    "bpf_probe_read_kernel(pt_regs)": (
        "struct pt_regs r = {}; bpf_probe_read_kernel(&r, sizeof(r), (void *)ctx->args[0]);"
        " if (r.di == 7) return 1;"
    ),
    "bpf_probe_read_kernel(64 B of pt_regs)": (
        "u64 w[8] = {}; bpf_probe_read_kernel(w, sizeof(w), (void *)ctx->args[0]);"
        " if (w[7] == 7) return 1;"
    ),
    "bpf_get_current_task": "if (bpf_get_current_task() == 7) return 1;",
    "task_storage_get (none yet)": (
        "if (ts.task_storage_get((struct task_struct *)bpf_get_current_task_btf(), 0, 0)) return 1;"
    ),
    "task_storage_get (create/hit)": (
        "struct inflight *in = ts.task_storage_get("
        "(struct task_struct *)bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);"
        " if (in) in->seq++;"
    ),
    "array lookup + atomic add": (
        "u32 k = 0; u64 *v = arr.lookup(&k); if (v) __sync_fetch_and_add(v, 1);"
    ),
}


@contextmanager
def bpf_stats() -> Any:
    old = STATS.read_text().strip()
    STATS.write_text("1")
    try:
        yield
    finally:
        STATS.write_text(old)


def prog_stats() -> dict[int, tuple[int, int]]:
    p = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True)
    return {x["id"]: (x.get("run_time_ns", 0), x.get("run_cnt", 0)) for x in json.loads(p.stdout)}


def prog_id(fd: int) -> int:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("prog_id:"):
                return int(line.split()[1])
    raise RuntimeError("no prog_id in fdinfo")


def ns_per_run(ids: list[int], cg: Any, exe: str, reps: int, n: int) -> list[float]:
    """Median ns per run of each program over `reps` loops of n getppid() calls."""
    per: list[list[float]] = [[] for _ in ids]
    for _ in range(reps):
        a = prog_stats()
        run_in(cg, [exe, str(n)])
        b = prog_stats()
        for j, i in enumerate(ids):
            runs = b[i][1] - a[i][1]
            if runs:
                per[j].append((b[i][0] - a[i][0]) / runs)
    return [median(x) for x in per]


def run(cgs: BenchCgroups, quick: bool, alt_bpf: Path | None = None) -> dict[str, Any]:
    from bcc import BPF

    exe = str(compile_c("getppid"))
    reps, n = (3, 300_000) if quick else (5, 1_000_000)
    out: dict[str, Any] = {"helpers_ns": {}, "recorder_ns": {}}
    with bpf_stats():
        print("BPF helpers, ns per call on this machine (stats overhead subtracted):")
        empty = 0.0
        for label, body in HELPERS.items():
            b = BPF(text=f"{PRELUDE}\nRAW_TRACEPOINT_PROBE(sys_enter) {{ {body} return 0; }}")
            try:
                if "hash lookup, hit" in label:
                    b[b"h"][ctypes.c_uint64(cgs.other.id)] = ctypes.c_uint32(1)
                pid = prog_id(b.funcs[b"raw_tracepoint__sys_enter"].fd)
                (t,) = ns_per_run([pid], cgs.other, exe, reps, n)
            finally:
                b.cleanup()
            if not body:
                empty = t
                print(f"  {label:<38} {t:6.1f} (subtracted below)")
            else:
                out["helpers_ns"][label.strip()] = t - empty
                print(f"  {label:<38} {t - empty:6.1f}")
        out["stats_overhead_ns"] = empty

        for label, bpf_dir in (("bpf/recorder.bpf.c", None), ("ALT", alt_bpf)):
            if label == "ALT" and (bpf_dir is None or is_tree(bpf_dir)):
                if bpf_dir is not None:
                    print(f"(ALT {bpf_dir} is a source tree: anatomy measures kernel sides only)")
                continue
            if bpf_dir is not None:
                label = f"{bpf_dir}/recorder.bpf.c"
            k = load_kernel(Settings(), cgs.rec, bpf_dir)
            try:
                k.ignore(cgs.ignored.id)
                enter = prog_id(k.bpf.funcs[b"raw_tracepoint__sys_enter"].fd)
                exit_ = prog_id(k.bpf.funcs[b"raw_tracepoint__sys_exit"].fd)
                print(f"{label} (raw tp), ns per call, stats overhead subtracted:")
                print(f"  {'case':<12} {'sys_enter':>10} {'sys_exit':>10} {'sum':>8}")
                cases = (("recorded", cgs.rec), ("unrecorded", cgs.other), ("ignored", cgs.ignored))
                for case, cg in cases:
                    e, x = (t - empty for t in ns_per_run([enter, exit_], cg, exe, reps, n))
                    out["recorder_ns"].setdefault(label, {})[case] = {"sys_enter": e, "sys_exit": x}
                    print(f"  {case:<12} {e:>10.1f} {x:>10.1f} {e + x:>8.1f}")
            finally:
                k.close()
    return out
