"""`traceloop dump`: ask a running daemon to dump now, over its Unix socket.

The socket lives in a 0700 directory and is itself 0600: only root (or the
daemon's user) can reach it. One JSON request per connection, one JSON answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.model.errors import TraceloopError

DEFAULT_SOCKET = "/run/traceloop/control.sock"
MAX_REQUEST = 64 * 1024

Handler = Callable[[dict[str, Any]], dict[str, Any]]


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
