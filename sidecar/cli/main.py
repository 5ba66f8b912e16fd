"""The `traceloop` command line: one subcommand per module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.model.errors import ERROR_MAX, TraceloopError
from sidecar.model.text import escape

# Subcommand -> the module whose add_parser(subparsers) defines it (and sets
# func). Only the module of the command being run is imported: the others
# pull in numpy, bcc and boto3, ~0.3 s that `traceloop show` should not pay.
COMMANDS = {
    "record": "record",
    "show": "show",
    "daemon": "daemon",
    "dump": "dump",
    "ls": "objects",
    "fetch": "objects",
}


def chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line, if any (the first word that
    is not an option: the top-level parser's options take no values)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's module is imported."""
    p = argparse.ArgumentParser(
        prog="traceloop",
        description="Crash flight recorder for containers: records every container's "
        "system calls in overwriting kernel buffers and writes the last window "
        "when a container crashes.",
    )
    p.add_argument("--version", action="version", version=f"traceloop {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[only]] if only else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(f"sidecar.cli.{name}").add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except TraceloopError as e:
        # Messages echo names and values from files and the system: escaped,
        # so they stay one line and cannot drive the terminal.
        print(f"traceloop: error: {escape(str(e), ERROR_MAX)}", file=sys.stderr)
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
