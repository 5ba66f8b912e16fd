"""Time: the kernel's CLOCK_BOOTTIME and the wall clock, and ISO 8601 text."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_text(dt: datetime, timespec: str = "seconds") -> str:
    """`2026-11-30T15:04:05Z`: RFC 3339 in UTC, as Kubernetes and S3 write times.
    A time without a zone is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso(wall_ns: int) -> str:
    """Wall-clock ns since the epoch -> `2026-11-30T15:04:05.123Z` (dumps' times)."""
    return utc_text(datetime.fromtimestamp(wall_ns / 1e9, UTC), "milliseconds")


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME timestamp to get wall-clock ns since the epoch."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def time_boot_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
