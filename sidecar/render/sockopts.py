"""Socket option values as strace shows them (its net.c: print_setsockopt and
print_getsockopt): int-like options as `[1]`, SO_LINGER and SO_PEERCRED as
structures, SO_ERROR by its errno name, anything else as a string of the
option's bytes (`"cubic"`, `"lo\\0"`); options strace decodes with structures
not known here keep the pointer. getsockopt's length shows `[4]`, or
`[32 => 16]` when the call changed it.

The captures (sidecar/dump/captures.py): setsockopt's value as a buffer of
optlen bytes read at entry; getsockopt's value read at exit as long as the
length the call wrote (kind SOCKOPT, `full_len` = that length), beside the
length the program passed, read at entry.

Both are joint decoders: (captures, registers, return value, -s limit) ->
argument index -> (strace's text, JSON value).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.dump.captures import Kind
from sidecar.render.errnos import ERRNOS
from sidecar.render.strings import escape, text

Decoded = tuple[str, Any]

SOL_SOCKET, SOL_IP, SOL_IPV6, SOL_RAW, SOL_PACKET, SOL_NETLINK = 1, 0, 41, 255, 263, 270
SO_ERROR, SO_LINGER, SO_PEERCRED = 4, 13, 17
# SOL_SOCKET options strace prints as an int whatever their length (asm-generic
# numbers, the same on x86_64 and arm64).
INT_LIKE = frozenset({
    1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 19, 27, 29, 30, 32, 33, 34, 35, 36, 37,
    40, 41, 42, 43, 44, 45, 46, 49, 53, 56, 60, 63, 64, 65, 68, 69, 70, 73, 75,
})  # fmt: skip
# Options strace decodes with structures this module does not know: the pointer.
_SET_OPAQUE = {SOL_SOCKET: {26, 51, 74}, SOL_IP: {35, 36, 42, 45, 51},
               SOL_IPV6: {20, 21, 27, 28, 42, 45}, SOL_PACKET: {1, 2, 5, 13},
               SOL_RAW: {1}}  # fmt: skip
_GET_OPAQUE = {SOL_SOCKET: {26, 74}, SOL_IP: {51, 52}, SOL_PACKET: {6}, SOL_RAW: {1},
               SOL_NETLINK: {9}}  # fmt: skip
MASK32 = 0xFFFFFFFF
SOCKOPT_KIND = int(Kind.SOCKOPT)


def _s32(v: int) -> int:
    v &= MASK32
    return v - (1 << 32) if v >= 1 << 31 else v


def _ptr(v: int) -> Decoded:
    v &= 0xFFFFFFFFFFFFFFFF
    return ("NULL", None) if v == 0 else (hex(v), hex(v))


def _int(data: bytes) -> Decoded | None:
    if len(data) < 4:
        return None
    (v,) = struct.unpack_from("<i", data)
    return f"[{v}]", [v]


def _string(data: bytes, full: int, limit: int | None) -> Decoded:
    """printstrn: the option's bytes, cut at -s with `...`."""
    shown = data if limit is None else data[:limit]
    t = '"' + escape(shown) + '"' + ("..." if full > len(shown) else "")
    return t, text(shown)


def _hex(data: bytes) -> Decoded:
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"', text(data)


def _fields(data: bytes, names: Sequence[str], length: int, fmt: str = "<i") -> Decoded | None:
    """A struct of 4-byte fields, each shown if `length` covers it."""
    got = []
    for i, name in enumerate(names):
        if (i + 1) * 4 > length:
            break
        if len(data) < (i + 1) * 4:
            return None
        got.append((name, struct.unpack_from(fmt, data, i * 4)[0]))
    return "{" + ", ".join(f"{k}={v}" for k, v in got) + "}", dict(got)


def _by_arg(caps: Sequence[Sequence[Any]]) -> dict[int, Sequence[Any]]:
    return {c[0]: c for c in caps if c[2] is not None}


def setsockopt_joint(
    caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
) -> dict[int, Decoded]:
    level, name, addr, length = a[1] & MASK32, a[2] & MASK32, a[3], _s32(a[4])
    cap = _by_arg(caps).get(3)
    if not addr or cap is None:
        return {}
    data, full = cap[2], cap[3]
    if level == SOL_SOCKET and name == SO_LINGER:
        if length < 8 or len(data) < 8:
            return {3: _ptr(addr)}
        return {3: _fields(data, ("l_onoff", "l_linger"), 8) or _ptr(addr)}
    if name in _SET_OPAQUE.get(level, ()):
        return {3: _ptr(addr)}
    if (level == SOL_SOCKET and name in INT_LIKE) or level == SOL_NETLINK:
        return {3: (_int(data) if length >= 4 else None) or _ptr(addr)}
    if length == 4:
        return {3: _int(data) or _ptr(addr)}
    return {3: _string(data, full, limit)}


def _get_value(
    level: int, name: int, addr: int, data: bytes, rlen: int, limit: int | None
) -> Decoded | None:
    if level == SOL_SOCKET:
        if name == SO_LINGER:
            return _fields(data, ("l_onoff", "l_linger"), min(rlen, 8))
        if name == SO_PEERCRED:
            return _fields(data, ("pid", "uid", "gid"), min(rlen, 12), "<I")
        if name == SO_ERROR:
            if rlen < 4:
                return _hex(data[:rlen])
            (err,) = struct.unpack_from("<I", data) if len(data) >= 4 else (None,)
            if err is None:
                return None
            n = ERRNOS.get(err, (str(err), ""))[0] if err else "0"
            return f"[{n}]", [n]
        if name in INT_LIKE:
            return _int(data) if rlen >= 4 else _hex(data[:rlen])
    if name in _GET_OPAQUE.get(level, ()):
        return _ptr(addr)
    if level == SOL_NETLINK or rlen == 4:
        return _int(data)
    return _string(data[:rlen], rlen, limit)


def getsockopt_joint(
    caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
) -> dict[int, Decoded]:
    """The value (after a successful call) and `[given]` or `[given => written]`."""
    by = _by_arg(caps)
    given, value = by.get(4), by.get(3)
    if given is None or len(given[2]) < 4:
        return {}
    (ulen,) = struct.unpack_from("<i", given[2])
    out: dict[int, Decoded] = {}
    if ret != 0 or value is None:
        out[4] = f"[{ulen}]", [ulen]
        return out
    rlen = _s32(value[3])
    if value[1] != SOCKOPT_KIND:  # dumps before kind 19: 4 bytes, the length read at exit
        rlen = ulen
        if rlen != 4:
            return {4: (f"[{ulen}]", [ulen])}
    out[4] = (f"[{ulen}]", [ulen]) if ulen == rlen else (f"[{ulen} => {rlen}]", [ulen, rlen])
    level, name, addr = a[1] & MASK32, a[2] & MASK32, a[3]
    if ulen <= 0 or rlen <= 0:
        out[3] = _ptr(addr)
        return out
    got = _get_value(level, name, addr, value[2], rlen, limit)
    if got is not None:
        out[3] = got
    return out


Joint = Callable[
    [Sequence[Sequence[Any]], Sequence[int], int | None, int | None], dict[int, Decoded]
]
# Syscalls whose captures decode together (one's meaning depends on another's).
JOINT: dict[str, Joint] = {"getsockopt": getsockopt_joint, "setsockopt": setsockopt_joint}
