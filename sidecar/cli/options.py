"""Command-line options shared by the commands that record."""

from __future__ import annotations

import argparse

from sidecar.kernel.layout import Settings


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
        "the filter runs in the kernel",
    )
    g.add_argument(
        "--slots",
        type=int,
        default=Settings.slots,
        help="syscalls kept per container, a power of two (default %(default)s)",
    )
    g.add_argument(
        "--max-containers",
        type=int,
        default=Settings.containers,
        help="containers recorded at once (default %(default)s)",
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
        containers=args.max_containers,
        path_cap=args.string_size,
        buf_cap=args.buffer_size,
        buffers=not args.no_buffers,
        syscall_filters=tuple(args.syscall_filters),
        raw_tracepoints=args.tracepoints == "raw",
    )
