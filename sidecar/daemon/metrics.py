"""Prometheus metrics, and the HTTP endpoint serving them with /healthz and /readyz."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from sidecar.model.errors import UsageError

CONTAINERS = Gauge("traceloop_containers_recorded", "Containers with a slab (alive or kept)")
SYSCALLS = Gauge("traceloop_syscalls_recorded", "Syscalls recorded into current slabs")
OVERWRITTEN = Gauge("traceloop_syscalls_overwritten", "Recorded syscalls since overwritten")
TRIGGERS = Counter("traceloop_triggers_total", "Triggers seen", ["reason"])
DUMPS = Counter("traceloop_dumps_total", "Dumps written, by result", ["result"])
DUMP_SECONDS = Histogram(
    "traceloop_dump_seconds",
    "From the decision to dump to a durable dump",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RATE_LIMITED = Counter(
    "traceloop_incidents_rate_limited_total",
    "Incidents not dumped: a container's crash loop, or the node-wide limit",
    ["scope"],
)
for _scope in ("container", "node"):
    RATE_LIMITED.labels(_scope)  # present at zero, so increase() sees the first one
KERNEL = Gauge("traceloop_kernel_counter", "Counters of the kernel side", ["name"])
SLABS_FREE = Gauge("traceloop_slabs_free", "Slabs on the kernel's free list")


class Health:
    """Liveness: the main loop ticked recently. Readiness: recording started."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.ready = False
        self._tick = time.monotonic()
        self.stale_after = stale_after

    def tick(self) -> None:
        self._tick = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self._tick < self.stale_after


def listen_addr(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `:PORT` (all addresses); `[::1]:PORT` for IPv6."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(addr: str, health: Health, refresh: Callable[[], None]) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz, /readyz on `addr` (HOST:PORT or :PORT) in a thread."""
    host, port = listen_addr(addr)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                # A stalled main loop: serve the gauges as they are.
                with contextlib.suppress(Exception):
                    refresh()
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = health.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"main loop stalled\n")
            elif path == "/readyz":
                ok = health.ready
                self._send(200 if ok else 503, b"ok\n" if ok else b"not recording yet\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass  # scrapes every few seconds would flood the log

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        raise UsageError(f"--metrics-addr {addr}: cannot listen: {e.strerror or e}") from None
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
