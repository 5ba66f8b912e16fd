"""Which calls are shown: the filters, --last N and --since DURATION.

Filters are one predicate over raw records, built once per dump (syscall names
resolved to numbers through the dump's own table). --last and --since keep a
bounded window of records and hand it over at the end; without them nothing is
held, so memory stays flat whatever the dump's size.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from sidecar.dump.records import COMM, NR, PID, RET, SIGNAL, TID, TS
from sidecar.model.errors import TraceloopError, UsageError
from sidecar.render.forms import Calls, Record
from sidecar.render.trace_expr import SyscallSet

Predicate = Callable[[Record], bool]


@dataclass(frozen=True)
class Selection:
    syscalls: tuple[str, ...] = ()
    pids: frozenset[int] = field(default_factory=frozenset)
    tids: frozenset[int] = field(default_factory=frozenset)
    comms: frozenset[str] = field(default_factory=frozenset)
    failed: bool = False
    successful: bool = False  # strace -z: only calls that returned without an error
    trace: str | None = None  # strace's -e trace=EXPR (trace_expr.py)
    last: int | None = None
    since_ns: int | None = None


def syscall_numbers(names: Iterable[str], calls: Calls, dump: str) -> frozenset[int]:
    by_name: dict[str, list[int]] = {}
    for nr, name in calls.names.items():
        by_name.setdefault(name, []).append(nr)
    out: set[int] = set()
    for name in names:
        if name.startswith("syscall_") and name[8:].isdigit():
            out.add(int(name[8:]))  # a number the dump's table does not name
        elif name in by_name:
            out.update(by_name[name])
        else:
            raise UsageError(f"--syscall-filters: unknown syscall {name!r} (not in {dump}'s table)")
    return frozenset(out)


def predicate(
    sel: Selection,
    nrs: frozenset[int] | None,
    since_ts: int | None,
    trace: SyscallSet | None = None,
) -> Predicate | None:
    """One test for all the filters given; None when there are none."""
    tests: list[Predicate] = []
    if nrs is not None:
        # Signals stay, as with strace's -e trace= (deliveries are not calls).
        tests.append(lambda r: r[NR] in nrs or r[NR] == SIGNAL)
    if trace is not None:
        tests.append(lambda r: r[NR] in trace or r[NR] == SIGNAL)
    if sel.pids:
        pids = sel.pids
        tests.append(lambda r: r[PID] in pids)
    if sel.tids:
        tids = sel.tids
        tests.append(lambda r: r[TID] in tids)
    if sel.comms:
        comms = sel.comms
        tests.append(lambda r: r[COMM] in comms)
    if sel.failed:
        tests.append(lambda r: r[RET] is not None and -4095 <= r[RET] < 0)
    if sel.successful:
        tests.append(lambda r: r[RET] is not None and not -4095 <= r[RET] < 0)
    if since_ts is not None:
        tests.append(lambda r: r[TS] >= since_ts)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda r: all(t(r) for t in tests)


T = TypeVar("T", bound=Sequence[Any])


def window(
    records: Iterable[T],
    last: int | None,
    since_ns: int | None,
    ts_of: Callable[[T], int] = itemgetter(TS),
) -> tuple[list[T], TraceloopError | None]:
    """The last `last` records and/or those within `since_ns` of the last one
    (records, or anything `ts_of` reads a record's time from).

    Reading stops at a damaged or truncated end; the error is handed back so the
    caller shows the window first and reports the error after it."""
    dq: deque[T] = deque(maxlen=last)
    newest: int | None = None
    err: TraceloopError | None = None
    try:
        for r in records:
            dq.append(r)
            if since_ns is not None:
                ts = ts_of(r)
                if newest is None or ts > newest:
                    newest = ts
                cut = newest - since_ns
                while dq and ts_of(dq[0]) < cut:
                    dq.popleft()
    except TraceloopError as e:
        err = e
    out = list(dq)
    if since_ns is not None and newest is not None:
        cut = newest - since_ns  # records are near, not strictly, in time order
        out = [r for r in out if ts_of(r) >= cut]
    return out, err
