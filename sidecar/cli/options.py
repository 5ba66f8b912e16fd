"""Command-line options shared by the commands that record."""

from __future__ import annotations

import argparse
import re

from sidecar.kernel.layout import MIB, Settings

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size(text: str) -> int:
    """A size in bytes: a number with an optional K, M or G (powers of 1024,
    also written KiB, MiB, GiB)."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size (e.g. 128M, 1G): {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_recorder_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("recording")
    g.add_argument(
        "--syscall-filters",
        type=csv,
        default=[],
        metavar="NAMES",
        help="record only these syscalls (comma-separated, e.g. openat,write); "
        "the filter runs in the kernel; exit and exit_group are recorded always "
        "(the crash triggers need them), and signals are",
    )
    g.add_argument(
        "--memory",
        type=size,
        default=Settings.memory,
        metavar="SIZE",
        help="kernel memory for recording, for the whole node (e.g. 128M, 1G; default "
        f"{Settings.memory // MIB}M): each container holds what its calls need, an idle one "
        "a few KiB, a busy one up to its --slots calls",
    )
    g.add_argument(
        "--slots",
        type=int,
        default=Settings.slots,
        help="most syscalls kept per container, a power of two (default %(default)s)",
    )
    g.add_argument(
        "--max-containers",
        type=int,
        default=Settings.containers,
        metavar="N",
        help="containers recorded at once (default: as many as --memory holds, each "
        f"keeping at least its last 256 calls: {Settings().containers:,} with the defaults)",
    )
    g.add_argument(
        "--string-size",
        type=int,
        default=Settings.path_cap,
        metavar="BYTES",
        help="bytes kept of each path string (default %(default)s)",
    )
    g.add_argument(
        "--buffer-size",
        type=int,
        default=Settings.buf_cap,
        metavar="BYTES",
        help="bytes kept of each read/write buffer (default %(default)s)",
    )
    g.add_argument(
        "--no-buffers",
        action="store_true",
        help="do not capture read/write buffers or execve's arguments (they can hold "
        "secrets); paths and addresses are still captured",
    )
    g.add_argument(
        "--tracepoints",
        choices=["raw", "classic"],
        default="raw",
        help="attach to raw tracepoints (faster, default) or classic raw_syscalls ones",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        slots=args.slots,
        memory=args.memory,
        containers=args.max_containers,
        path_cap=args.string_size,
        buf_cap=args.buffer_size,
        buffers=not args.no_buffers,
        syscall_filters=tuple(args.syscall_filters),
        raw_tracepoints=args.tracepoints == "raw",
    )
