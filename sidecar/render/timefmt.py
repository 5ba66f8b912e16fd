"""Times and durations as show prints them, and durations as users type them."""

from __future__ import annotations

import functools
import re
import time

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s|m|min|h)?\s*$")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "min": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip


def parse_duration(text: str) -> int | None:
    """`500ms`, `2s`, `1.5m`, `250us`; a bare number is seconds. None if unreadable."""
    m = _DURATION.match(text)
    if not m:
        return None
    return round(float(m.group(1)) * _UNIT_NS[m.group(2) or "s"])


def relative(ns: int) -> str:
    """Time since the first shown call: `+12.345ms`."""
    return "+%.3fms" % (ns / 1e6) if ns >= 0 else "-%.3fms" % (-ns / 1e6)


def duration(ns: int | None) -> str:
    """A call's duration in at most 8 characters: 961ns, 211.8µs, 6.45ms, 2.047s."""
    if ns is None:
        return ""
    # %-formatting: this runs for every table row, and is the quicker here.
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return "%.1fµs" % (ns / 1e3)
    if ns < 1_000_000_000:
        return "%.2fms" % (ns / 1e6)
    if ns < 1_000_000_000_000:
        return "%.3fs" % (ns / 1e9)
    return "%.0fs" % (ns / 1e9)


# strace's -t, -tt and -ttt, -r and -T (strace.c printleader, syscall.c).


def strace_clock(epoch_ns: int, level: int) -> str:
    """Wall-clock time as strace -t (`14:03:07`), -tt (`14:03:07.123456`) or
    -ttt (`1764511387.123456`) prints it: local time, microseconds cut, not rounded."""
    sec, ns = divmod(epoch_ns, 1_000_000_000)
    if level >= 3:
        return f"{sec}.{ns // 1000:06d}"
    hms = _local_hms(sec, time.tzname)
    return hms if level == 1 else f"{hms}.{ns // 1000:06d}"


@functools.lru_cache(maxsize=16)
def _local_hms(sec: int, zone: tuple[str, str]) -> str:
    """`14:03:07` in the local time zone (`zone` keys the cache: TZ may be set
    again, tzset()); cached: the lines of a window share a few seconds."""
    return time.strftime("%H:%M:%S", time.localtime(sec))


def strace_relative(ns: int) -> str:
    """strace -r: the time since the previous line, `     0.000123`."""
    sec, rest = divmod(max(ns, 0), 1_000_000_000)
    return f"{sec:6d}.{rest // 1000:06d}"


def strace_elapsed(ns: int) -> str:
    """strace -T: the time spent in the call, `<0.000012>`."""
    sec, rest = divmod(ns, 1_000_000_000)
    return f"<{sec}.{rest // 1000:06d}>"
