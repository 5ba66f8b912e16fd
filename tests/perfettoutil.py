"""A check of Chrome's trace-event JSON against the format's documented fields.

No trace processor runs here offline (the `perfetto` package's TraceProcessor
downloads its binary at run time), so this checks what the Trace Event Format
document requires of the JSON object form and of the events used, and what
viewers need to draw them: slices on one thread nest, a `B` without its end
is the thread's last, every track is named."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

PHASES = {"X", "B", "E", "i", "I", "M"}
METADATA = {"process_name", "thread_name", "process_sort_index", "thread_sort_index",
            "process_labels"}  # fmt: skip


def _strict(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def load_trace(text: str) -> dict[str, Any]:
    """Parse and check a trace; returns it."""
    trace = json.loads(text, parse_constant=_strict)
    assert isinstance(trace, dict) and isinstance(trace.get("traceEvents"), list), "object form"
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    assert isinstance(trace.get("otherData", {}), dict)
    named_threads: set[tuple[int, int]] = set()
    named_procs: set[int] = set()
    per_thread: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for ev in trace["traceEvents"]:
        assert isinstance(ev, dict) and ev.get("ph") in PHASES, ev
        assert isinstance(ev.get("name"), str) and ev["name"], ev
        assert isinstance(ev.get("args", {}), dict), ev
        assert isinstance(ev.get("cat", ""), str), ev
        ph = ev["ph"]
        if ph == "M":
            assert ev["name"] in METADATA and isinstance(ev["pid"], int), ev
            if ev["name"] in ("process_name", "thread_name"):
                assert isinstance(ev["args"].get("name"), str), ev
            if ev["name"] == "thread_name":
                assert isinstance(ev["tid"], int), ev
                named_threads.add((ev["pid"], ev["tid"]))
            else:
                named_procs.add(ev["pid"])
            continue
        assert number(ev.get("ts")) and ev["ts"] >= 0, ev
        if ph in ("i", "I"):
            assert ev.get("s", "t") in ("g", "p", "t"), ev
            if ev.get("s", "t") != "g":
                assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int), ev
            continue
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int), ev
        if ph == "X":
            assert number(ev.get("dur")) and ev["dur"] >= 0, ev
        per_thread[(ev["pid"], ev["tid"])].append(ev)
    for key, evs in per_thread.items():
        assert key in named_threads and key[0] in named_procs, f"unnamed track {key}"
        _nested(key, evs)
    return trace


def _nested(key: tuple[int, int], evs: list[dict[str, Any]]) -> None:
    """Slices of one thread nest (here: do not overlap at all, as one thread's
    system calls cannot), and a slice left open is the last."""
    evs = sorted(evs, key=lambda e: e["ts"])
    end = None
    for i, ev in enumerate(evs):
        if end is not None:
            assert ev["ts"] >= end, f"thread {key}: {ev['name']} starts inside the call before"
        if ev["ph"] == "B":
            assert i == len(evs) - 1, f"thread {key}: an open slice is not the last"
        else:
            end = ev["ts"] + ev["dur"]
