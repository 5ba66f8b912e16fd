"""Formatters for raw argument registers, in strace's notation.

Every formatter has the signature `(value, args) -> str`: the register of its
own argument and all six raw registers of the call (for the few whose meaning
depends on another argument, e.g. fcntl's third). Registers are unsigned
64-bit; a formatter reinterprets them by the C type of the parameter.

Flag and enum formatters memoise their results: the same few values
(O_RDONLY|O_CLOEXEC, PROT_READ) repeat in every dump, and building the string
is the expensive part. Each memo is bounded, so a hostile dump full of random
values costs time, never unbounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

Fmt = Callable[[int, Sequence[int]], str]

MASK32 = 0xFFFF_FFFF
MASK64 = 0xFFFF_FFFF_FFFF_FFFF
CACHE_MAX = 4096
AT_FDCWD = -100


def s32(v: int, a: Sequence[int] = ()) -> str:
    v &= MASK32
    return str(v - 0x1_0000_0000 if v & 0x8000_0000 else v)


def u32(v: int, a: Sequence[int] = ()) -> str:
    return str(v & MASK32)


def s64(v: int, a: Sequence[int] = ()) -> str:
    v &= MASK64
    return str(v - 0x1_0000_0000_0000_0000 if v >> 63 else v)


def u64(v: int, a: Sequence[int] = ()) -> str:
    return str(v & MASK64)


def ptr(v: int, a: Sequence[int] = ()) -> str:
    """A pointer: NULL or hex (strace's printaddr)."""
    v &= MASK64
    return hex(v) if v else "NULL"


def xlong(v: int, a: Sequence[int] = ()) -> str:
    """strace's %#lx: hex, but a plain 0."""
    v &= MASK64
    return hex(v) if v else "0"


def xint(v: int, a: Sequence[int] = ()) -> str:
    v &= MASK32
    return hex(v) if v else "0"


def _octal(v: int, a: Sequence[int] = ()) -> str:
    return ("0" + format(v & MASK32, "o")).rjust(3, "0")


def dirfd(v: int, a: Sequence[int] = ()) -> str:
    """A directory fd: AT_FDCWD for -100 (0xffffff9c), else the signed int."""
    v &= MASK32
    n = v - 0x1_0000_0000 if v & 0x8000_0000 else v
    return "AT_FDCWD" if n == AT_FDCWD else str(n)


def jdirfd(v: int, a: Sequence[int] = ()) -> int | str:
    v &= MASK32
    n = v - 0x1_0000_0000 if v & 0x8000_0000 else v
    return "AT_FDCWD" if n == AT_FDCWD else n


def as_s32(v: int) -> int:
    v &= MASK32
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


# JSON values of the plain formatters, computed directly (no text round trip):
# what strace prints as a decimal number is a JSON number.
JFmt = Callable[[int, Sequence[int]], int | str]


def js32(v: int, a: Sequence[int] = ()) -> int:
    v &= MASK32
    return v - 0x1_0000_0000 if v & 0x8000_0000 else v


def ju32(v: int, a: Sequence[int] = ()) -> int:
    return v & MASK32


def js64(v: int, a: Sequence[int] = ()) -> int:
    v &= MASK64
    return v - 0x1_0000_0000_0000_0000 if v >> 63 else v


def ju64(v: int, a: Sequence[int] = ()) -> int:
    return v & MASK64


def jxlong(v: int, a: Sequence[int] = ()) -> int | str:
    v &= MASK64
    return hex(v) if v else 0


def jxint(v: int, a: Sequence[int] = ()) -> int | str:
    v &= MASK32
    return hex(v) if v else 0


def json_value(s: str) -> int | str:
    """strace's plain decimal numbers become JSON numbers; names, flags, pointers
    and octal modes stay text as strace writes them."""
    if s.isdigit():
        return int(s) if s[0] != "0" or len(s) == 1 else s
    if s[:1] == "-" and s[1:].isdigit() and s[1:2] not in ("0", ""):
        return int(s)
    return s


def json_fmt(f: Fmt) -> JFmt:
    """The JSON counterpart of a text formatter."""
    j = _JSON_OF.get(f)
    if j is not None:
        return j
    render = _MEMO_RENDER.get(f)
    if render is not None:  # memoise the JSON value itself: one lookup per argument
        r = render
        return _memo_json(lambda v: json_value(r(v)))

    def fmt(v: int, a: Sequence[int]) -> int | str:
        return json_value(f(v, a))

    return fmt


# memo formatter -> its render function, so json_fmt can memoise JSON values too.
_MEMO_RENDER: dict[Fmt, Callable[[int], str]] = {}


def memo(render: Callable[[int], str]) -> Fmt:
    """A formatter that renders each value once (bounded memo, see above)."""
    cache: dict[int, str] = {}

    def fmt(v: int, a: Sequence[int] = ()) -> str:
        s = cache.get(v)
        if s is None:
            s = render(v)
            if len(cache) < CACHE_MAX:
                cache[v] = s
        return s

    _MEMO_RENDER[fmt] = render
    return fmt


def _memo_json(render: Callable[[int], int | str]) -> JFmt:
    cache: dict[int, int | str] = {}

    def fmt(v: int, a: Sequence[int] = ()) -> int | str:
        s = cache.get(v)
        if s is None:
            s = render(v)
            if len(cache) < CACHE_MAX:
                cache[v] = s
        return s

    return fmt


# A mode in strace's %#03o (000, 0644, 04755); the same few in every dump.
octal = memo(_octal)

_JSON_OF: dict[Fmt, JFmt] = {
    s32: js32, u32: ju32, s64: js64, u64: ju64, xlong: jxlong, xint: jxint, ptr: ptr, octal: octal,
    dirfd: jdirfd,
}  # fmt: skip


def bits_text(v: int, table: Sequence[tuple[int, str]]) -> list[str]:
    """Names of the flags set in `v`, in table order, then unknown bits in hex."""
    out = []
    for bit, name in table:
        if bit and v & bit == bit:
            out.append(name)
            v &= ~bit
    if v:
        out.append(hex(v))
    return out


def bitflags(table: Sequence[tuple[int, str]], zero: str = "0", mask: int = MASK64) -> Fmt:
    """A flags argument: `A|B|0x40` (strace), `zero` when none is set."""

    def render(v: int) -> str:
        return "|".join(bits_text(v & mask, table)) or zero

    return memo(render)


def unknown(v: int, what: str) -> str:
    """strace's form for a value a table does not know: `0x40 /* F_??? */`."""
    return f"{hex(v)} /* {what}??? */"


def enum(table: Mapping[int, str], what: str, mask: int = MASK32) -> Fmt:
    """An enumerated argument: its name, or `0x40 /* F_??? */`."""

    def render(v: int) -> str:
        v &= mask
        name = table.get(v)
        return name if name is not None else unknown(v, what)

    return memo(render)


def enum_or_int(table: Mapping[int, str]) -> Fmt:
    """An int that has names for some values (e.g. a clock id); others in decimal."""

    def render(v: int) -> str:
        n = as_s32(v)
        name = table.get(n)
        return name if name is not None else str(n)

    return memo(render)
