"""Fixed-size objects a call reads or fills (a stat, a wait status, a
timespec, a sigset...), decoded from the bytes the kernel captured.

Each decoder gets the captured bytes, the call's raw registers and its return
value, and gives (strace's text, a JSON value), or None when the bytes cannot
be decoded as strace would (too short, an architecture whose layout is not
known here, a size argument that is not the one the kernel wants): the
pointer is shown then, as strace shows it when it cannot read the object.
Layouts are the kernel's for 64-bit x86 and arm64 (little-endian).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.render.flags import STATX_MASK, filetype_mode, flags_of, is_device, makedev
from sidecar.render.signals import SIGRTMAX, signal_name

Decoded = tuple[str, Any]
Decoder = Callable[[bytes, Sequence[int], int | None], Decoded | None]

# Where st_mode, st_rdev and st_size lie: x86_64's own struct stat, and the
# generic one arm64 uses.
_STAT_AT = {"x86_64": (24, 40, 48), "aarch64": (16, 32, 48), "arm64": (16, 32, 48)}
_STATX_ATTRS = (
    (0x4, "STATX_ATTR_COMPRESSED"), (0x10, "STATX_ATTR_IMMUTABLE"), (0x20, "STATX_ATTR_APPEND"),
    (0x40, "STATX_ATTR_NODUMP"), (0x800, "STATX_ATTR_ENCRYPTED"), (0x1000, "STATX_ATTR_AUTOMOUNT"),
    (0x2000, "STATX_ATTR_MOUNT_ROOT"), (0x100000, "STATX_ATTR_VERITY"),
    (0x200000, "STATX_ATTR_DAX"), (0x400000, "STATX_ATTR_WRITE_ATOMIC"),
)  # fmt: skip
_SA_FLAGS = (
    (0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
    (0x20000000, "SA_INTERRUPT"), (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"),
    (0x00000004, "SA_SIGINFO"), (0x00000001, "SA_NOCLDSTOP"), (0x00000002, "SA_NOCLDWAIT"),
)  # fmt: skip
_SA_RESTORER = 0x04000000
_SIG_HANDLERS = {0: "SIG_DFL", 1: "SIG_IGN"}
_RLIM_INFINITY = (1 << 64) - 1


def stat_decoder(arch: str) -> Decoder | None:
    at = _STAT_AT.get(arch)
    if at is None:
        return None
    mode_at, rdev_at, size_at = at

    def decode(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
        if len(data) < size_at + 8:
            return None
        (mode,) = struct.unpack_from("<I", data, mode_at)
        text = filetype_mode(mode, ())
        if is_device(mode):  # the device's number, not a size
            (rdev,) = struct.unpack_from("<Q", data, rdev_at)
            dev = makedev(rdev)
            return f"{{st_mode={text}, st_rdev={dev}, ...}}", {"st_mode": text, "st_rdev": dev}
        (size,) = struct.unpack_from("<q", data, size_at)
        return f"{{st_mode={text}, st_size={size}, ...}}", {"st_mode": text, "st_size": size}

    return decode


def statx(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """struct statx (the same on every architecture), strace's short form."""
    if len(data) < 48:
        return None
    (mask,) = struct.unpack_from("<I", data, 0)
    (attrs,) = struct.unpack_from("<Q", data, 8)
    (mode,) = struct.unpack_from("<H", data, 28)
    (size,) = struct.unpack_from("<Q", data, 40)
    js = {
        "stx_mask": flags_of(STATX_MASK, mask),
        "stx_attributes": flags_of(_STATX_ATTRS, attrs),
        "stx_mode": filetype_mode(mode, ()),
        "stx_size": size,
    }
    return "{" + ", ".join(f"{k}={v}" for k, v in js.items()) + ", ...}", js


def fd_pair(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """pipe's and socketpair's two descriptors: `[3, 4]`."""
    if len(data) < 8:
        return None
    fds = list(struct.unpack_from("<ii", data))
    return f"[{fds[0]}, {fds[1]}]", fds


def wait_status(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """wait4's status, strace's way: `[{WIFEXITED(s) && WEXITSTATUS(s) == 1}]`.
    Only a call that reaped a child (ret > 0) wrote it."""
    if len(data) < 4 or ret is None or ret <= 0:
        return None
    (s,) = struct.unpack_from("<I", data)
    low = s & 0xFFFF
    js: dict[str, Any]
    if low & 0x7F == 0:
        code = (low >> 8) & 0xFF
        text, js = f"WIFEXITED(s) && WEXITSTATUS(s) == {code}", {"exit_status": code}
    elif low == 0xFFFF:
        text, js = "WIFCONTINUED(s)", {"continued": True}
    elif low & 0xFF == 0x7F:
        sig = signal_name((low >> 8) & 0xFF)
        text, js = f"WIFSTOPPED(s) && WSTOPSIG(s) == {sig}", {"stop_signal": sig}
    else:
        sig = signal_name(low & 0x7F)
        text, js = f"WIFSIGNALED(s) && WTERMSIG(s) == {sig}", {"term_signal": sig}
        if low & 0x80:
            text += " && WCOREDUMP(s)"
        js["core_dumped"] = bool(low & 0x80)
    # Bits above the low 16 (ptrace events) follow in hex, as strace does.
    extra = f" | {hex(s & ~0xFFFF)}" if s & ~0xFFFF else ""
    text = f"[{{{text}}}{extra}]"
    return text, js


def timespec(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    if len(data) < 16:
        return None
    sec, nsec = struct.unpack_from("<qq", data)
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}", {"tv_sec": sec, "tv_nsec": nsec}


def _rlim(v: int) -> str:
    if v == _RLIM_INFINITY:
        return "RLIM64_INFINITY"
    return f"{v // 1024}*1024" if v > 1024 and v % 1024 == 0 else str(v)


def rlimit(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    if len(data) < 16:
        return None
    cur, top = (_rlim(v) for v in struct.unpack_from("<QQ", data))
    return f"{{rlim_cur={cur}, rlim_max={top}}}", {"rlim_cur": cur, "rlim_max": top}


def _sig_short(sig: int) -> str:
    return signal_name(sig).removeprefix("SIG")


def sigset_text(mask: int) -> str:
    """`[INT TERM]`; more than two thirds set: the complement, `~[KILL STOP]`."""
    sigs = range(1, SIGRTMAX + 1)
    if mask.bit_count() >= SIGRTMAX * 2 // 3:
        return "~[" + " ".join(_sig_short(s) for s in sigs if not mask >> (s - 1) & 1) + "]"
    return "[" + " ".join(_sig_short(s) for s in sigs if mask >> (s - 1) & 1) + "]"


def sigset_names(mask: int) -> list[str]:
    return [signal_name(s) for s in range(1, SIGRTMAX + 1) if mask >> (s - 1) & 1]


def sigset(size_arg: int) -> Decoder:
    """A sigset the kernel reads only when the call's size argument is 8."""

    def decode(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
        if len(data) < 8 or a[size_arg] != 8:
            return None
        (mask,) = struct.unpack_from("<Q", data)
        return sigset_text(mask), sigset_names(mask)

    return decode


def sigaction_decoder(arch: str) -> Decoder | None:
    if arch != "x86_64":  # the only layout checked against strace here
        return None

    def decode(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
        if len(data) < 32 or a[3] != 8:
            return None
        handler, flags, restorer, mask = struct.unpack_from("<QQQQ", data)
        h = _SIG_HANDLERS.get(handler, hex(handler))
        f = flags_of(_SA_FLAGS, flags)
        text = f"{{sa_handler={h}, sa_mask={sigset_text(mask)}, sa_flags={f}"
        js: dict[str, Any] = {"sa_handler": h, "sa_mask": sigset_names(mask), "sa_flags": f}
        if flags & _SA_RESTORER:
            text += f", sa_restorer={hex(restorer)}"
            js["sa_restorer"] = hex(restorer)
        return text + "}", js

    return decode


def _fixed(d: Decoder) -> Callable[[str], Decoder | None]:
    return lambda arch: d


# Syscall -> argument index -> decoder for the dump's architecture; the same
# arguments sidecar/argkinds.py has the kernel capture as objects.
_BY_SYSCALL: dict[str, dict[int, Callable[[str], Decoder | None]]] = {
    "stat": {1: stat_decoder}, "lstat": {1: stat_decoder}, "fstat": {1: stat_decoder},
    "newfstatat": {2: stat_decoder}, "statx": {4: _fixed(statx)},
    "pipe": {0: _fixed(fd_pair)}, "pipe2": {0: _fixed(fd_pair)},
    "socketpair": {3: _fixed(fd_pair)},
    "wait4": {1: _fixed(wait_status)},
    "rt_sigaction": {1: sigaction_decoder, 2: sigaction_decoder},
    "rt_sigprocmask": {1: _fixed(sigset(3)), 2: _fixed(sigset(3))},
    "nanosleep": {0: _fixed(timespec)}, "clock_nanosleep": {2: _fixed(timespec)},
    "clock_gettime": {1: _fixed(timespec)},
    "getrlimit": {1: _fixed(rlimit)}, "setrlimit": {1: _fixed(rlimit)},
    "prlimit64": {2: _fixed(rlimit), 3: _fixed(rlimit)},
}  # fmt: skip


def decoders(name: str, arch: str) -> dict[int, Decoder]:
    """Argument index -> decoder for one syscall of a dump from `arch`."""
    found = {i: make(arch) for i, make in _BY_SYSCALL.get(name, {}).items()}
    return {i: d for i, d in found.items() if d is not None}
