"""Prometheus metrics of the S3 sink and its spool (default registry).

The daemon serves the default registry, so defining them here is enough. The
spool gauges are computed when scraped, from the spool directories themselves,
so they are right even for dumps left by an earlier process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# As the daemon's own metrics (sidecar/daemon/metrics.py): no `_created` series.
disable_created_metrics()  # type: ignore[no-untyped-call]

# What sidecar/sinks/s3/_errors.py's classify() calls a failure.
ERROR_KINDS = (
    "connection", "server", "credentials", "access-denied", "no-bucket", "rejected",
    "unconfirmed", "error",
)  # fmt: skip

UPLOADS = Counter(
    "traceloop_s3_uploads",
    "Dump uploads: result=ok (stored and confirmed, then removed from the spool) or "
    "result=failed (given up for this pass after retries; the dump stays spooled)",
    ["result"],
)
RETRIES = Counter("traceloop_s3_retries", "Upload steps retried after a backoff")
ERRORS = Counter(
    "traceloop_s3_errors",
    "Failed S3 requests by kind: " + ", ".join(ERROR_KINDS),
    ["kind"],
)
STORE_UP = Gauge(
    "traceloop_s3_store_up",
    "1 when the last check or upload of this S3 sink worked, 0 when it failed",
    ["sink"],
)
UPLOAD_SECONDS = Histogram(
    "traceloop_s3_upload_seconds",
    "Time from the start of an upload to its confirmation",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
SPOOL_FULL = Counter(
    "traceloop_spool_full",
    "Dumps lost to a full spool: action=refused (the new dump) or dropped (an old one)",
    ["action"],
)

# Every labelled series exists from the start, at zero: increase() sees the first.
for _result in ("ok", "failed"):
    UPLOADS.labels(_result)
for _kind in ERROR_KINDS:
    ERRORS.labels(_kind)
for _action in ("refused", "dropped"):
    SPOOL_FULL.labels(_action)

_SPOOL_BYTES = Gauge("traceloop_spool_bytes", "Bytes in the spool directories")
_SPOOL_DUMPS = Gauge("traceloop_spool_dumps", "Dumps waiting in the spool directories")
_SPOOL_OLDEST = Gauge(
    "traceloop_spool_oldest_age_seconds", "Age of the oldest dump waiting in the spool (0: none)"
)

# (bytes, dumps, oldest spooled_ns or None) of one spool root.
StatsFn = Callable[[], tuple[int, int, int | None]]
_sources: dict[str, StatsFn] = {}
_lock = threading.Lock()


def watch_spool(root: str, stats: StatsFn) -> None:
    """Include the spool at `root` in the spool gauges (once per root)."""
    with _lock:
        _sources.setdefault(root, stats)


def _collect() -> tuple[int, int, int | None]:
    total, dumps, oldest = 0, 0, None
    with _lock:
        fns = list(_sources.values())
    for fn in fns:
        b, n, o = fn()
        total += b
        dumps += n
        if o is not None and (oldest is None or o < oldest):
            oldest = o
    return total, dumps, oldest


def _oldest_age() -> float:
    oldest = _collect()[2]
    return 0.0 if oldest is None else max(0.0, (time.time_ns() - oldest) / 1e9)


_SPOOL_BYTES.set_function(lambda: float(_collect()[0]))
_SPOOL_DUMPS.set_function(lambda: float(_collect()[1]))
_SPOOL_OLDEST.set_function(_oldest_age)
