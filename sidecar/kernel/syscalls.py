"""The syscall table of the node: numbers, names and parameters.

Names and parameter names/types come from tracefs
(`events/syscalls/sys_enter_*/format`), so they match the running kernel.
tracefs does not expose syscall numbers, so the number of each name comes from
the node's UAPI `unistd` header for its architecture. The table is stored in
every dump, so a dump decodes the same on any machine.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable
from pathlib import Path

from sidecar.dump.syscalls import Param, Syscall, SyscallTable
from sidecar.model.errors import PermissionDeniedError, TracefsError

TRACEFS_CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))

_FIELD = re.compile(r"^\s*field:(?P<decl>[^;]+);\s*offset:\d+;\s*size:\d+;")
_NR_DEFINE = re.compile(r"^#define\s+__NR3?2?_(?P<name>\w+)\s+(?P<nr>\d+)\s*$")
_COMMON = {"common_type", "common_flags", "common_preempt_count", "common_pid", "__syscall_nr"}


def find_tracefs(candidates: Iterable[Path] = TRACEFS_CANDIDATES) -> Path:
    for path in candidates:
        try:
            if (path / "events" / "syscalls").is_dir():
                return path
        except PermissionError:
            # tracefs is root-only: the usual first mistake, running as a user.
            raise PermissionDeniedError(
                f"cannot read {path}: recording needs root "
                "(or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"
            ) from None
    raise TracefsError(
        "tracefs with syscall events not found at /sys/kernel/tracing: "
        "mount it with 'mount -t tracefs nodev /sys/kernel/tracing' "
        "(in a pod, mount the host's /sys/kernel/tracing)"
    )


def parse_format(text: str) -> tuple[Param, ...]:
    """Parameters of one `sys_enter_*/format` file, in argument order."""
    params = []
    for line in text.splitlines():
        m = _FIELD.match(line)
        if not m:
            continue
        decl = m.group("decl").strip()
        # The last identifier is the field name; the rest is its C type.
        name_m = re.search(r"(\w+)\s*(\[\d*\])?$", decl)
        if not name_m:
            continue
        name = name_m.group(1)
        if name in _COMMON:
            continue
        ctype = decl[: name_m.start()].strip()
        params.append(Param(name, ctype))
    return tuple(params)


def parse_unistd(text: str) -> dict[str, int]:
    """`#define __NR_name nr` lines of a UAPI unistd header."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = _NR_DEFINE.match(line.strip())
        if m:
            out[m.group("name")] = int(m.group("nr"))
    return out


def unistd_candidates(machine: str | None = None) -> list[Path]:
    machine = machine or platform.machine()
    release = os.uname().release
    if machine == "x86_64":
        triplet, name = "x86_64-linux-gnu", "unistd_64.h"
        kernel_arch = "x86"
    elif machine == "aarch64":
        triplet, name = "aarch64-linux-gnu", "unistd.h"
        kernel_arch = "arm64"
    else:
        triplet, name, kernel_arch = f"{machine}-linux-gnu", "unistd.h", machine
    return [
        Path(f"/lib/modules/{release}/build/arch/{kernel_arch}/include/generated/uapi/asm/{name}"),
        Path(f"/usr/include/{triplet}/asm/{name}"),
        Path("/usr/include/asm-generic/unistd.h"),
    ]


def load_table(tracefs: Path | None = None, unistd: Path | None = None) -> SyscallTable:
    """Read the running kernel's syscall table (names, numbers, parameters)."""
    tracefs = tracefs or find_tracefs()
    headers = [unistd] if unistd else unistd_candidates()
    numbers: dict[str, int] = {}
    for h in headers:
        if h.is_file():
            numbers = parse_unistd(h.read_text(errors="replace"))
            if numbers:
                break
    if not numbers:
        raise TracefsError(
            "no UAPI unistd header found for syscall numbers: install linux-libc-dev "
            "or the kernel headers (deploy/host-setup.sh does)"
        )
    events = tracefs / "events" / "syscalls"
    out = []
    for name, nr in numbers.items():
        fmt = events / f"sys_enter_{name}" / "format"
        try:
            params = parse_format(fmt.read_text())
        except OSError:
            params = ()  # not traceable on this kernel (or not a syscall here)
        out.append(Syscall(nr, name, params))
    return SyscallTable(out)
