"""The `traceloop` command line: one subcommand per module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import TraceloopError

# Modules that provide add_parser(subparsers); each sets func=run.
COMMANDS = ["record", "show", "daemon", "control", "objects"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="traceloop",
        description="Crash flight recorder for containers: records every container's "
        "system calls in overwriting kernel buffers and writes the last window "
        "when a container crashes.",
    )
    p.add_argument("--version", action="version", version=f"traceloop {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"sidecar.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"sidecar.{name}":
                continue  # not built yet
            raise
        mod.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except TraceloopError as e:
        print(f"traceloop: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `traceloop show ... | head`: the reader left; that is not an error.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
