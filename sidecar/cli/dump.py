"""`traceloop dump`: ask a running daemon to dump containers now."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sidecar.cli.argtypes import seconds
from sidecar.daemon.control import DEFAULT_SOCKET, request
from sidecar.model.errors import TraceloopError, UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "dump",
        help="make a running daemon dump a container now (manual trigger)",
        description="Ask the daemon to dump CONTAINER (a name, container ID or prefix, or "
        "cgroup id), or every recorded container with --all. Prints where each dump went.",
    )
    p.add_argument("container", nargs="?", help="container name, ID (prefix) or cgroup id")
    p.add_argument("--all", action="store_true", help="dump every recorded container")
    p.add_argument(
        "--socket", default=DEFAULT_SOCKET, help="the daemon's control socket (default %(default)s)"
    )
    p.add_argument(
        "--timeout", type=seconds, default=30.0, help="seconds to wait (default %(default)s)"
    )
    p.set_defaults(func=run_dump)


def run_dump(args: argparse.Namespace) -> int:
    if not args.all and not args.container:
        raise UsageError("dump: name a CONTAINER or use --all")
    req = {"cmd": "dump", "all": bool(args.all), "container": args.container}
    answer = request(args.socket, req, args.timeout)
    if not answer.get("ok"):
        raise TraceloopError(str(answer.get("error", "the daemon refused")))
    for loc in answer.get("dumps", []):
        print(loc)
    if not answer.get("dumps"):
        print("traceloop: nothing dumped", file=sys.stderr)
        return 1
    return 0
