"""A loopback HTTP proxy in front of moto that fails requests on purpose.

One request per client connection (the proxy answers `Connection: close`), so
every request gets its own fate from `plan(n, method, path)`:

- "forward": passed to the store, the answer passed back;
- "503": answered with an S3 `ServiceUnavailable` error, the store never sees it;
- "reset": the connection is reset (RST) once the request is read;
- "fake200": answered 200 OK, the store never sees it (a store that loses data);
- "slow": held `slow_seconds` (past the client's timeout), then forwarded anyway:
  the store may act on a request whose client has given up;
- "hold": held until `release()` (the test kills the client meanwhile).

`down()` closes the listening socket (clients get "connection refused"), `up()`
opens it again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Plan = Callable[[int, str, str], str]


def forward_all(n: int, method: str, path: str) -> str:
    return "forward"


@dataclass
class Seen:
    n: int
    method: str
    path: str
    action: str


@dataclass
class FlakyProxy:
    upstream: tuple[str, int]
    plan: Plan = forward_all
    slow_seconds: float = 3.0
    port: int = 0
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._listener: socket.socket | None = None
        self._release = threading.Event()
        self.holding = threading.Event()
        self._closed = False
        self.up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- listening -----------------------------------------------------------

    def up(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        s, self._listener = self._listener, None
        if s is not None:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closed = True
        self.release()
        self.down()

    def release(self) -> None:
        self._release.set()

    def requests(self, method: str | None = None, action: str | None = None) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.seen
                if (method is None or s.method == method) and (action is None or s.action == action)
            ]

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    # -- one request ---------------------------------------------------------

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                req = _read_request(conn)
                if req is None:
                    return
                method, path, head, body = req
                with self._lock:
                    self._count += 1
                    n = self._count
                action = self.plan(n, method, path)
                with self._lock:
                    self.seen.append(Seen(n, method, path, action))
                if action == "503":
                    msg = (
                        b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ServiceUnavailable"
                        b"</Code><Message>injected</Message></Error>"
                    )
                    conn.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(msg)}\r\nConnection: close\r\n\r\n".encode()
                        + msg
                    )
                    return
                if action == "fake200":
                    conn.sendall(
                        b'HTTP/1.1 200 OK\r\nETag: "0"\r\nContent-Length: 0\r\n'
                        b"Connection: close\r\n\r\n"
                    )
                    return
                if action == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action == "slow":
                    time.sleep(self.slow_seconds)
                elif action == "hold":
                    self.holding.set()
                    self._release.wait()
                    return
                self._forward(conn, head, body)
        except OSError:
            pass

    def _forward(self, conn: socket.socket, head: bytes, body: bytes) -> None:
        with socket.create_connection(self.upstream, timeout=60) as up:
            up.sendall(head + body)
            while True:
                data = up.recv(1 << 16)
                if not data:
                    break
                with contextlib.suppress(OSError):
                    conn.sendall(data)


def _read_request(conn: socket.socket) -> tuple[str, str, bytes, bytes] | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(1 << 16)
        if not data:
            return None
        buf += data
    raw_head, _, rest = buf.partition(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = []
    expect = False
    length = 0
    chunked = False
    for line in lines[1:]:
        k, _, v = line.partition(":")
        lk = k.strip().lower()
        if lk == "expect":
            expect = True
            continue  # answered here; the store must not wait for a body twice
        if lk == "connection":
            continue
        if lk == "content-length":
            length = int(v.strip())
        if lk == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
        headers.append(line)
    headers.append("Connection: close")
    if expect:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = rest
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            data = conn.recv(1 << 16)
            if not data:
                return None
            body += data
    else:
        while len(body) < length:
            data = conn.recv(1 << 16)
            if not data:
                return None
            body += data
    head = ("\r\n".join([lines[0], *headers]) + "\r\n\r\n").encode("latin-1")
    return method, path, head, body
