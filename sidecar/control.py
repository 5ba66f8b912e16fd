"""`traceloop dump`: ask a running daemon to dump now, over its Unix socket.

The socket lives in a 0700 directory and is itself 0600: only root (or the
daemon's user) can reach it. One JSON request per connection, one JSON answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .argtypes import seconds
from .errors import TraceloopError, UsageError

DEFAULT_SOCKET = "/run/traceloop/control.sock"
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


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


def request(path: str, req: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except FileNotFoundError:
        raise TraceloopError(
            f"no daemon socket at {path}: is 'traceloop daemon' running?"
        ) from None
    except PermissionError:
        raise TraceloopError(f"permission denied on {path}: run as root") from None
    except OSError as e:
        raise TraceloopError(f"cannot reach the daemon at {path}: {e.strerror}") from None
    with s:
        s.sendall(json.dumps(req).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except TimeoutError:
            raise TraceloopError(f"the daemon did not answer within {timeout:g}s") from None
    try:
        answer: dict[str, Any] = json.loads(data)
    except ValueError:
        raise TraceloopError("the daemon sent a malformed answer") from None
    return answer


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


class ControlServer:
    """The daemon side: serves requests with `handler` in a thread."""

    def __init__(self, path: str, handler: Handler) -> None:
        self.path = path
        d = Path(path).parent
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(d, 0o700)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

        class _H(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                raw = self.rfile.read(MAX_REQUEST)
                try:
                    req = json.loads(raw)
                    if not isinstance(req, dict):
                        raise ValueError("not an object")
                    answer = handler(req)
                except ValueError as e:
                    answer = {"ok": False, "error": f"bad request: {e}"}
                except TraceloopError as e:
                    answer = {"ok": False, "error": str(e)}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        old = os.umask(0o177)
        try:
            self.server = socketserver.ThreadingUnixStreamServer(path, _H)
        finally:
            os.umask(old)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="control", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
