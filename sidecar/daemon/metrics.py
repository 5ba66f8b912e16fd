"""Prometheus metrics, and the HTTP endpoint serving them with /healthz and /readyz.

Named by Prometheus conventions: counters end in `_total`, units are in the
name (`_seconds`, `_bytes`), labelled series exist at zero from the start (so
`increase()` sees the first failure), and `traceloop_build_info` says which
version runs. The kernel's counters and the pod watch's live elsewhere and are
monotonic: they are read at scrape time by collectors and exposed as counters.
The S3 sink's metrics are defined in sidecar/sinks/s3/_metrics.py, imported
only when a sink is S3; the Kubernetes ones are registered when the pod watch
starts (`watch_kube`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from sidecar import __version__
from sidecar.model.errors import UsageError
from sidecar.model.kernel_events import REASON_NAMES

# A `_created` gauge beside every counter doubles the series for little use.
disable_created_metrics()  # type: ignore[no-untyped-call]

CONTAINERS = Gauge(
    "traceloop_containers_recorded", "Live containers being recorded (each holds a container slot)"
)
KEPT = Gauge(
    "traceloop_containers_kept",
    "Ended containers whose window is kept for late triggers or a dump (a slot each)",
)
CONTAINERS_NOT_RECORDED = Counter(
    "traceloop_containers_not_recorded_total",
    "Containers left unrecorded: no container slot was free (raise --memory or --max-containers)",
)
UNRECORDED_CRASHES = Counter(
    "traceloop_unrecorded_crashes_total",
    "Crashes (a nonzero or signalled end) of containers that were not recorded: no dump",
)
SYSCALLS = Gauge("traceloop_syscalls_recorded", "Syscalls recorded into current slabs")
OVERWRITTEN = Gauge("traceloop_syscalls_overwritten", "Recorded syscalls since overwritten")
TRIGGERS = Counter("traceloop_triggers_total", "Triggers seen", ["reason"])
DUMPS = Counter("traceloop_dumps_total", "Dumps: result=written or failed", ["result"])
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
SLABS_FREE = Gauge("traceloop_slabs_free", "Slabs on the kernel's free list")
BUILD = Info("traceloop_build", "The running traceloop")
BUILD.info({"version": __version__})

for _reason in (*REASON_NAMES.values(), "manual"):
    TRIGGERS.labels(_reason)
for _result in ("written", "failed"):
    DUMPS.labels(_result)
for _scope in ("container", "node"):
    RATE_LIMITED.labels(_scope)

# The kernel side's counters (sidecar/kernel/bpf/recorder.bpf.c, ST_*): key in
# Kernel.stats() -> (counter name without _total, help).
KERNEL_COUNTERS = {
    "table_full": (
        "traceloop_syscalls_not_recorded",
        "System calls of new containers not recorded: no container slot was free "
        "(raise --memory or --max-containers)",
    ),
    "adopted": ("traceloop_slabs_adopted", "Slabs the kernel handed to new containers"),
    "ring_drops": (
        "traceloop_kernel_events_dropped",
        "Kernel events (new containers, triggers, process ends) lost to a full ring buffer",
    ),
    "capture_failures": (
        "traceloop_captures_failed",
        "Paths, buffers and addresses the kernel could not read",
    ),
    "no_chunk": (
        "traceloop_syscalls_without_memory",
        "System calls not recorded: their container could get no memory chunk "
        "(0 unless the --memory budget is overcommitted)",
    ),
    "chunks_grown": (
        "traceloop_memory_chunks_grown",
        "Memory chunks containers took from the pool beyond their floor",
    ),
    "chunks_recycled": (
        "traceloop_memory_chunks_recycled",
        "Memory chunks containers reused, overwriting their oldest calls",
    ),
}

# The pod watch's and the Event poster's counters: key in Kube.counts() ->
# (counter name without _total, help, labels).
KUBE_COUNTERS = {
    "watch_restarts": (
        "traceloop_kube_watch_restarts",
        "Pod watches started again after one ended (server timeout, dropped stream, error)",
        {},
    ),
    "relists": (
        "traceloop_kube_relists",
        "Pod lists after the first (410 Gone, or an unexpected answer)",
        {},
    ),
    "watch_errors": (
        "traceloop_kube_watch_errors",
        "Failed pod list and watch requests (refused, dropped, server errors)",
        {},
    ),
    "events_posted": (
        "traceloop_kube_events",
        "Events about dumps: result=posted, failed (after retries) or dropped (queue full)",
        {"result": "posted"},
    ),
    "events_failed": ("traceloop_kube_events", "", {"result": "failed"}),
    "events_dropped": ("traceloop_kube_events", "", {"result": "dropped"}),
}

Spec = dict[str, tuple[str, str, dict[str, str]]]


class Sampled(Collector):
    """Counters kept elsewhere (a monotonic count in the kernel or a thread's
    stats), read when scraped; a key `read` does not give is 0."""

    def __init__(self, spec: Spec, read: Callable[[], dict[str, int]]) -> None:
        self.spec = spec
        self.read = read

    def _families(self, values: dict[str, int]) -> Iterator[CounterMetricFamily]:
        families: dict[str, CounterMetricFamily] = {}
        for key, (name, doc, labels) in self.spec.items():
            fam = families.get(name)
            if fam is None:
                fam = families[name] = CounterMetricFamily(name, doc, labels=list(labels))
            fam.add_metric(list(labels.values()), float(values.get(key, 0)))
        yield from families.values()

    def describe(self) -> Iterable[CounterMetricFamily]:
        return list(self._families({}))

    def collect(self) -> Iterable[CounterMetricFamily]:
        return list(self._families(self.read()))


_kernel_stats: dict[str, int] = {}


def set_kernel_stats(stats: dict[str, int]) -> None:
    """The kernel's counters as last read (on the main loop)."""
    _kernel_stats.update(stats)


REGISTRY.register(
    Sampled(
        {k: (name, doc, {}) for k, (name, doc) in KERNEL_COUNTERS.items()},
        lambda: dict(_kernel_stats),
    )
)

_kube_lock = threading.Lock()
_kube_registered = False


def watch_kube(counts: Callable[[], dict[str, int]]) -> None:
    """Export the Kubernetes part's counters (once; from when the watch starts)."""
    global _kube_registered
    with _kube_lock:
        if _kube_registered:
            return
        REGISTRY.register(Sampled(KUBE_COUNTERS, counts))
        TRIGGERS.labels("pod-restart")
        _kube_registered = True


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
