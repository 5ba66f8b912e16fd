"""How close a program of the kernel side is to the verifier's complexity limit.

    sudo .venv/bin/python bench/verifier_stats.py [--slots N] [PROGRAM...]

loads each program (default: raw_tracepoint__sys_enter and __sys_exit) of
sidecar/kernel/bpf/recorder.bpf.c ($TRACELOOP_BPF_DIR: another tree's) as
the loader would compile it, with the verifier's statistics log (level 4),
and prints its last lines: `processed N insns (limit 1000000) ...`, and the
reason when it refuses (bcc itself reports any E2BIG as "Program too large").
--slots N compiles with NSLABS=N whatever the loader would choose.
"""

from __future__ import annotations

import argparse
import ctypes
from typing import Any

from bcc import BPF, lib

from sidecar.kernel import loader
from sidecar.kernel.layout import Settings
from sidecar.kernel.syscalls import load_table

LOG_STATS = 4  # BPF_LOG_STATS: statistics and errors, not every instruction
LOG_SIZE = 16 << 20


def stats(b: Any, name: bytes) -> str:
    buf = ctypes.create_string_buffer(LOG_SIZE)
    fd = lib.bcc_func_load(
        b.module, BPF.RAW_TRACEPOINT, name, lib.bpf_function_start(b.module, name),
        lib.bpf_function_size(b.module, name), lib.bpf_module_license(b.module),
        lib.bpf_module_kern_version(b.module), LOG_STATS, buf, LOG_SIZE, None, -1,
    )  # fmt: skip
    verdict = "loaded" if fd >= 0 else "refused"
    insns = lib.bpf_function_size(b.module, name) // 8
    return (
        f"{name.decode()}: {verdict}, {insns} instructions\n"
        + buf.value.decode(errors="replace").strip()
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, help="compile with NSLABS=N")
    ap.add_argument("programs", nargs="*", default=["sys_enter", "sys_exit"])
    args = ap.parse_args()
    cfg = loader.KernelConfig(Settings(containers=1), root_id=None, triggers=15)
    flags = loader.cflags(
        cfg, load_table(), loader.task_walk_offsets(cfg), loader.migration_hook(cfg)
    )
    if args.slots is not None:
        flags = [f"-DNSLABS={args.slots}" if f.startswith("-DNSLABS=") else f for f in flags]
    # Compile only: each program is loaded below with the statistics log.
    BPF._trace_autoload = lambda self: None
    b = BPF(src_file=str(loader.bpf_source()).encode(), cflags=flags)
    try:
        for p in args.programs:
            print(stats(b, f"raw_tracepoint__{p}".encode()))
    finally:
        b.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
