"""Time: the kernel's CLOCK_BOOTTIME and the wall clock, and ISO 8601 text."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso(wall_ns: int) -> str:
    return (
        datetime.fromtimestamp(wall_ns / 1e9, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME timestamp to get wall-clock ns since the epoch."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def time_boot_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
