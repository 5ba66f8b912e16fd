"""Every header and record field of a dump: its type and its bounds.

sidecar/dump/reader.py applies these once, as it reads; nothing after it
re-checks a type. A field of the wrong type or out of bounds makes the whole
file refused (`Invalid`, naming the field): such a file was not written by
traceloop, or was damaged, and guessing what it meant would show something
false. Fields this version does not know are kept (a newer writer may add
some) if they hold plain values. Booleans are never integers, and no float is
NaN or infinite (JSON has neither). Bounds are in docs/dump-format.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from sidecar.dump.captures import MAX_CAPTURES, Kind
from sidecar.dump.records import VERSION

U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
S64_MAX = (1 << 63) - 1
KIND_MAX = int(max(Kind))
NAME_MAX = 4096  # identity strings: names, ids, paths (PATH_MAX)
SHORT_MAX = 64  # reasons, sources, signals, times, comms, versions
ARG_MAX = 128 << 10  # one command-line argument (the kernel's MAX_ARG_STRLEN)
LIST_MAX = 4096  # triggers, command arguments, syscall filters
TABLE_MAX = 4096  # syscall numbers in the table
CAPTURE_MAX = 4096  # bytes of one captured argument (the recorder's largest cap)
COMM_MAX = 16  # a task's comm: at most 15 bytes in the kernel, decoded

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CTYPE = re.compile(r"[ -~]{1,128}")


class Invalid(ValueError):
    """A field of the wrong type or out of bounds; the message names it."""


Check = Callable[[Any, str], Any]


def _fail(where: str, what: str) -> Invalid:
    return Invalid(f"{where}: {what}")


def _int(lo: int, hi: int) -> Check:
    def check(v: Any, where: str) -> int:
        if type(v) is not int:
            raise _fail(where, f"expected an integer, got {_kind(v)}")
        if not lo <= v <= hi:
            raise _fail(where, f"{v} is out of range ({lo}..{hi})")
        return v

    return check


def _str(max_len: int) -> Check:
    def check(v: Any, where: str) -> str:
        if type(v) is not str:
            raise _fail(where, f"expected a string, got {_kind(v)}")
        if len(v) > max_len:
            raise _fail(where, f"string longer than {max_len} characters")
        return v

    return check


def _match(pattern: re.Pattern[str], what: str) -> Check:
    def check(v: Any, where: str) -> str:
        if type(v) is not str or not pattern.fullmatch(v):
            raise _fail(where, f"expected {what}")
        return v

    return check


def _bool(v: Any, where: str) -> bool:
    if type(v) is not bool:
        raise _fail(where, f"expected true or false, got {_kind(v)}")
    return v


def _number(v: Any, where: str) -> int | float:
    if type(v) is int:
        return v
    if type(v) is not float or not math.isfinite(v) or v < 0:
        raise _fail(where, "expected a finite number of seconds")
    return v


def _list(item: Check, max_len: int = LIST_MAX) -> Check:
    def check(v: Any, where: str) -> list[Any]:
        if type(v) is not list:
            raise _fail(where, f"expected an array, got {_kind(v)}")
        if len(v) > max_len:
            raise _fail(where, f"more than {max_len} entries")
        return [item(x, f"{where}[{i}]") for i, x in enumerate(v)]

    return check


def _tuple(*items: Check) -> Check:
    def check(v: Any, where: str) -> list[Any]:
        if type(v) is not list or len(v) != len(items):
            raise _fail(where, f"expected an array of {len(items)}")
        return [c(x, f"{where}[{i}]") for i, (c, x) in enumerate(zip(items, v, strict=True))]

    return check


def _map(fields: Mapping[str, Check]) -> Check:
    """A map with these optional fields (nil counts as absent); others kept if plain."""

    def check(v: Any, where: str) -> dict[Any, Any]:
        if type(v) is not dict:
            raise _fail(where, f"expected a map, got {_kind(v)}")
        out: dict[Any, Any] = {}
        for k, x in v.items():
            c = fields.get(k) if type(k) is str else None
            if x is None or c is None:
                out[k] = _plain(x, f"{where}.{k}")
            else:
                out[k] = c(x, f"{where}.{k}")
        return out

    return check


def _table(key: Check, value: Check, max_len: int) -> Check:
    def check(v: Any, where: str) -> dict[Any, Any]:
        if type(v) is not dict:
            raise _fail(where, f"expected a map, got {_kind(v)}")
        if len(v) > max_len:
            raise _fail(where, f"more than {max_len} entries")
        return {key(k, f"{where} key"): value(x, f"{where}[{k!r}]") for k, x in v.items()}

    return check


def _nil_or(check: Check) -> Check:
    def nil_or(v: Any, where: str) -> Any:
        return None if v is None else check(v, where)

    return nil_or


def _plain(v: Any, where: str) -> Any:
    """A value of a field this version does not know: any msgpack value but a
    non-finite float (the reader has bounded its size and depth)."""
    if type(v) is float and not math.isfinite(v):
        raise _fail(where, "not a finite number")
    if type(v) is list:
        for x in v:
            _plain(x, where)
    elif type(v) is dict:
        for x in v.values():
            _plain(x, where)
    return v


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            bytes: "binary data", list: "an array", dict: "a map"}.get(type(v), "nil")  # fmt: skip


_name, _short = _str(NAME_MAX), _str(SHORT_MAX)
_count = _int(0, U64)
_i64 = _int(-(1 << 63), S64_MAX)

TRIGGER = _map(
    {
        "reason": _short, "source": _short, "ts_ns": _count, "time": _short,
        "pid": _int(0, U32), "tid": _int(0, U32), "comm": _short,
        "exit_code": _int(-(1 << 31), U32), "signal": _short, "detail": _map({}),
        "si_code": _short, "si_addr": _count, "si_pid": _int(0, U32), "core_dumped": _bool,
    }
)  # fmt: skip

HEADER = _map(
    {
        "format": _short,
        "created": _short,
        "created_ns": _count,
        "boot_offset_ns": _i64,
        "triggers": _list(TRIGGER),
        "container": _map(
            {
                "name": _name, "id": _name, "runtime": _name, "cgroup_path": _name,
                "cgroup_id": _count, "pod_uid": _name, "command": _list(_str(ARG_MAX)),
                "exit_status": _i64,
            }
        ),
        "pod": _map({k: _name for k in ("node", "namespace", "name", "uid", "container",
                                        "container_id", "image")}),
        "host": _map({k: _name for k in ("hostname", "node", "kernel", "arch")}),
        "recorder": _map(
            {
                "version": _short, "slots": _count, "containers": _count, "path_cap": _count,
                "buf_cap": _count, "sa_cap": _count, "buffers": _bool,
                "syscall_filters": _list(_match(_IDENT, "a syscall name")),
                "raw_tracepoints": _bool, "kernel_stats": _table(_short, _count, 64),
            }
        ),
        "counts": _table(_short, _count, 64),
        "window": _map({"seconds": _number, "cut": _count}),
        "syscalls": _table(
            _int(0, U32),
            _tuple(
                _match(_IDENT, "a syscall name"),
                _list(_tuple(_match(_IDENT, "a parameter name"), _match(_CTYPE, "a C type")), 6),
            ),
            TABLE_MAX,
        ),
        "captures": _table(
            _int(0, U32),
            _list(_tuple(_int(0, 5), _int(0, max(Kind)), _int(0, 1 << 16)), MAX_CAPTURES),
            TABLE_MAX,
        ),
    }
)  # fmt: skip


def header(h: dict[Any, Any]) -> dict[str, Any]:
    """The header, checked (raises Invalid); `format` was checked by the reader."""
    v = h.get("version")
    if type(v) is not int:
        raise Invalid("no format version" if v is None else "version is not an integer")
    if v > VERSION:
        raise Invalid(f"format version {v} is newer than this traceloop reads ({VERSION}); upgrade")
    if v < 1:
        raise Invalid(f"format version {v} does not exist")
    out: dict[str, Any] = HEADER({**h, "version": None}, "header")
    out["version"] = v  # in its place: --info -o json keeps the file's order
    return out


# --- records: on the hot path, so one flat function --------------------------


def _cap_ok(c: Any) -> bool:
    return (
        type(c) is list
        and len(c) == 4
        and type(c[0]) is int
        and 0 <= c[0] <= 5
        and type(c[1]) is int
        and 1 <= c[1] <= KIND_MAX
        and (type(c[2]) is bytes or c[2] is None)
        and type(c[3]) is int
        and 0 <= c[3] <= U32
    )


def record_ok(r: list[Any]) -> bool:
    """A record's fields have their types and bounds (docs/dump-format.md).

    Runs once per record, on show's hot path: comparisons inline, the six
    arguments' types checked in C, and most records capture nothing. The
    arguments' sign is not checked (comparing six 64-bit ints cost a tenth of
    the reader's time): every formatter reads a register modulo 2**64, so a
    negative one shows as the unsigned value it encodes."""
    seq, ts, dur, cpu, pid, tid, comm, nr, args, ret, caps = r
    # For integers known to be >= 0, `a | b <= M` (M = 2**k - 1) holds exactly
    # when both do: one comparison instead of one per field.
    return (
        type(seq) is int
        and type(ts) is int
        and type(cpu) is int
        and type(pid) is int
        and type(tid) is int
        and type(nr) is int
        and (seq | ts | cpu | pid | tid | nr) >= 0
        and (pid | tid | nr) <= U32
        and cpu <= 0xFFFF
        and (dur is None or (type(dur) is int and dur >= 0))
        and (ret is None or (type(ret) is int and ret <= S64_MAX))
        and type(comm) is str
        and len(comm) <= COMM_MAX
        and type(args) is list
        and len(args) == 6
        and _SIX_INTS.issuperset(map(type, args))  # no sign check: see below
        and type(caps) is list
        and (not caps or (len(caps) <= MAX_CAPTURES and all(map(_cap_ok, caps))))
    )


_SIX_INTS = frozenset([int])


_FIELDS: list[tuple[str, Check]] = [
    ("seq", _count), ("ts", _count), ("dur", _nil_or(_count)), ("cpu", _int(0, 0xFFFF)),
    ("pid", _int(0, U32)), ("tid", _int(0, U32)), ("comm", _str(COMM_MAX)), ("nr", _int(0, U32)),
    ("args", _tuple(*[_count] * 6)), ("ret", _nil_or(_i64)),
    ("caps", _list(_tuple(_int(0, 5), _int(1, max(Kind)), lambda v, w: v, _int(0, U32)),
                   MAX_CAPTURES)),
]  # fmt: skip


def record_problem(r: Any) -> str:
    """What is wrong with a record that `record_ok` refused (off the hot path)."""
    if type(r) is not list or len(r) != len(_FIELDS):
        return f"expected an array of {len(_FIELDS)}"
    for (name, check), v in zip(_FIELDS, r, strict=True):
        try:
            check(v, name)
        except Invalid as e:
            return str(e)
    for i, c in enumerate(r[-1]):
        if type(c[2]) is not bytes and c[2] is not None:
            return f"caps[{i}][2]: expected binary data or nil, got {_kind(c[2])}"
    return "malformed"
