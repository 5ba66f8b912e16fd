"""select's and pselect6's fd sets, timeout and signal mask, and ppoll's
timeout and signal mask, as strace shows them: `select(5, [3 4], [], NULL,
{tv_sec=1, tv_usec=0}) = 1 (in [3], left {tv_sec=0, tv_usec=999000})`,
pselect6's `{sigmask=[USR1], sigsetsize=8}`, ppoll's `[USR1]`.

Two captures (docs/dump-format.md, kinds 20 and 21): the sets, the timeout
and pselect6's sigmask pair as the call got them, and the sets and the time
left after a call that returned > 0. Each set is FDSET_BYTES at a fixed
offset; only the first (nfds + 63) / 64 * 8 bytes are the program's. A call
naming more descriptors than the recorder keeps (nfds > 512) shows its sets
as pointers, as strace shows memory it did not read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.dump.captures import FDSET_BYTES, Kind
from sidecar.render.structs import sigset_names, sigset_text

Decoded = tuple[str, Any]
Caps = Sequence[Sequence[Any]]
Joint = Callable[[Caps, Sequence[int], int | None, int | None], dict[int, Decoded]]
Note = Callable[[int, Sequence[int], Caps], str]

FDSETS_IN, FDSETS_OUT = int(Kind.FDSETS_IN), int(Kind.FDSETS_OUT)
TIMEOUT_AT = 3 * FDSET_BYTES
SIGMASK_AT = TIMEOUT_AT + 16
MAX_FDS = FDSET_BYTES * 8
_SETS = ("in", "out", "except")


def _nfds(a: Sequence[int]) -> int | None:
    """The descriptors the sets hold, or None when they are not decoded."""
    n = a[0] & 0xFFFFFFFF
    return n if n <= MAX_FDS else None


def _fds(data: bytes, j: int, nfds: int) -> list[int]:
    chunk = data[j * FDSET_BYTES : j * FDSET_BYTES + (nfds + 7) // 8]
    bits = int.from_bytes(chunk, "little")
    return [fd for fd in range(nfds) if bits >> fd & 1]


def _set_text(fds: list[int]) -> str:
    return "[" + " ".join(map(str, fds)) + "]"


def _time(data: bytes, at: int, unit: str) -> Decoded:
    sec, frac = struct.unpack_from("<qq", data, at)
    return f"{{tv_sec={sec}, {unit}={frac}}}", {"tv_sec": sec, unit: frac}


def _capture(caps: Sequence[Sequence[Any]], kind: int, size: int) -> bytes | None:
    for c in caps:
        if c[1] == kind and c[2] is not None and len(c[2]) >= size:
            return bytes(c[2])
    return None


def _joint(unit: str, sigmask: bool) -> Joint:
    def decode(
        caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
    ) -> dict[int, Decoded]:
        data = _capture(caps, FDSETS_IN, SIGMASK_AT + (24 if sigmask else 0))
        nfds = _nfds(a)
        if data is None:
            return {}
        out: dict[int, Decoded] = {}
        if nfds is not None:
            for j in range(3):
                if a[1 + j]:
                    fds = _fds(data, j, nfds)
                    out[1 + j] = _set_text(fds), fds
        if a[4]:
            out[4] = _time(data, TIMEOUT_AT, unit)
        if sigmask and a[5]:
            ss, size = struct.unpack_from("<QQ", data, SIGMASK_AT)
            if ss:
                (mask,) = struct.unpack_from("<Q", data, SIGMASK_AT + 16)
                t, names = sigset_text(mask), sigset_names(mask)
            else:
                t, names = "NULL", None
            out[5] = f"{{sigmask={t}, sigsetsize={size}}}", {"sigmask": names, "sigsetsize": size}
        return out

    return decode


def _note(unit: str) -> Note:
    def note(ret: int, a: Sequence[int], caps: Sequence[Sequence[Any]]) -> str:
        """After the return value: `(Timeout)`, or the ready sets and the time left."""
        if ret == 0:
            return " (Timeout)"
        data = _capture(caps, FDSETS_OUT, SIGMASK_AT)
        nfds = _nfds(a)
        if ret < 0 or data is None or nfds is None:
            return ""
        parts = []
        for j, name in enumerate(_SETS):
            fds = _fds(data, j, nfds) if a[1 + j] else []
            if fds:
                parts.append(f"{name} {_set_text(fds)}")
        if a[4]:
            parts.append("left " + _time(data, TIMEOUT_AT, unit)[0])
        return " (" + ", ".join(parts) + ")" if parts else ""

    return note


def ppoll_joint(
    caps: Caps, a: Sequence[int], ret: int | None, limit: int | None
) -> dict[int, Decoded]:
    """ppoll's timeout and sigmask, read together at entry (kind 22): `{tv_sec=1,
    tv_nsec=0}, [USR1]`; a sigset of another size than 8 keeps its pointer."""
    data = _capture(caps, int(Kind.TS_SIGSET), 24)
    if data is None:
        return {}
    out: dict[int, Decoded] = {}
    if a[2]:
        out[2] = _time(data, 0, "tv_nsec")
    if a[3] and a[4] == 8:
        (mask,) = struct.unpack_from("<Q", data, 16)
        out[3] = sigset_text(mask), sigset_names(mask)
    return out


JOINT: dict[str, Joint] = {
    "ppoll": ppoll_joint,
    "select": _joint("tv_usec", False),
    "pselect6": _joint("tv_nsec", True),
}
NOTES: dict[str, Note] = {"select": _note("tv_usec"), "pselect6": _note("tv_nsec")}
