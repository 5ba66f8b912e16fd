"""`traceloop dump`: ask a running daemon to dump now, over its Unix socket.

The socket is 0600 (in a 0700 directory when the daemon creates it): only
root (or the daemon's user) can reach it. One JSON request per connection,
one JSON answer.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar.model.errors import TraceloopError, UsageError

DEFAULT_SOCKET = "/run/traceloop/control.sock"
MAX_REQUEST = 64 * 1024
MAX_CONNECTIONS = 16
READ_TIMEOUT = 5.0  # seconds a client may take to send its request

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
    """The daemon side: serves requests with `handler`, one thread per connection.

    It changes nothing it did not make: a missing directory is created 0700, an
    existing one is left as it is; a socket that answers belongs to a live
    daemon and is never replaced (a stale one is); any other file at `path` is
    refused. On close it removes its own socket only.
    """

    def __init__(
        self,
        path: str,
        handler: Handler,
        *,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.path = path
        _prepare(Path(path))
        server = _Server(path, _handler_class(handler, read_timeout), max_connections)
        st = os.stat(path)
        self._ident = (st.st_dev, st.st_ino)
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, name="control", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._ident:
                os.unlink(self.path)


def _prepare(path: Path) -> None:
    """Make `path` free for a new socket, or say why it is not ours to take."""
    d = path.parent
    if not d.exists():
        try:
            d.mkdir(parents=True, mode=0o700)
        except OSError as e:
            raise UsageError(f"--control-socket {path}: cannot create {d}: {e.strerror}") from None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise UsageError(f"--control-socket {path}: exists and is not a socket; not replaced")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)  # left by a daemon that is gone
        return
    except OSError as e:
        raise UsageError(f"--control-socket {path}: cannot check it: {e.strerror}") from None
    finally:
        probe.close()
    raise UsageError(
        f"--control-socket {path}: another daemon is listening there (stop it, or give "
        "this one another --control-socket)"
    )


class _Server(socketserver.ThreadingUnixStreamServer):
    """At most `max_connections` at once; the others are closed at once."""

    daemon_threads = True

    def __init__(
        self, path: str, handler: type[socketserver.BaseRequestHandler], max_connections: int
    ) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        old = os.umask(0o177)  # the socket is 0600: root (or the daemon's user) only
        try:
            super().__init__(path, handler)
        finally:
            os.umask(old)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _handler_class(
    handler: Handler, read_timeout: float
) -> type[socketserver.StreamRequestHandler]:
    class _H(socketserver.StreamRequestHandler):
        timeout = read_timeout  # a client that sends nothing does not keep a thread

        def handle(self) -> None:
            try:
                raw = self.rfile.read(MAX_REQUEST)
            except OSError:
                return  # timed out or gone
            try:
                answer = handler(_parse(raw))
            except (ValueError, RecursionError) as e:
                answer = {"ok": False, "error": f"bad request: {str(e)[:200]}"}
            except TraceloopError as e:
                answer = {"ok": False, "error": str(e)}
            with contextlib.suppress(OSError):
                self.wfile.write(json.dumps(answer).encode() + b"\n")

    return _H


def _parse(raw: bytes) -> dict[str, Any]:
    """A request: {"cmd": str, "container": str | null, "all": bool}, nothing nested."""
    req = json.loads(raw)  # bounded: MAX_REQUEST bytes; too deep a nesting raises RecursionError
    if not isinstance(req, dict):
        raise ValueError("not a JSON object")
    for key, kinds in (("cmd", (str,)), ("container", (str, type(None))), ("all", (bool,))):
        if key in req and not isinstance(req[key], kinds):
            raise ValueError(f"{key!r} has the wrong type")
    return req
