"""Syscalls whose arguments strace shows by another argument's value.

fcntl's third argument is flags, a lease or an int depending on its command;
futex's timeout is a count for the REQUEUE operations; open shows its mode
only when it creates, mknod its device only for device files, ioctl and clone
only the arguments their request or flags use; clone's arguments are labelled.
The formatters here take (value, other argument); sidecar/render/specs.py
binds them to the parameter they depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sidecar.render import flags as F
from sidecar.render.ioctls import ioctl_shown
from sidecar.render.values import MASK32, Fmt, bitflags, enum, ptr, s32, u32, xint, xlong

Shown = Callable[[Sequence[int]], Sequence[int] | None]

# --- fcntl ---------------------------------------------------------------------

_FCNTL_NOARG = frozenset({1, 3, 9, 11, 1025, 1032, 1034, 1035, 1037})  # the F_GET* commands
_FCNTL_INT = frozenset({0, 8, 10, 1030, 1031})  # F_DUPFD, F_SETOWN, F_SETSIG, ...
_fd_flags = bitflags(F.FD_FLAGS)
_leases = enum(F.LEASES, "F_")
_seals = bitflags(F.SEALS)
_dnotify = bitflags(F.DNOTIFY)


def fcntl_arg(open_flags: Fmt) -> Callable[[int, int], str]:
    """fcntl's third argument, by its command."""

    def fmt(v: int, cmd: int) -> str:
        cmd &= MASK32
        if cmd == 2:
            return _fd_flags(v, ())
        if cmd == 4:
            return open_flags(v, ())
        if cmd in _FCNTL_INT:
            return s32(v)
        if cmd == 1024:
            return _leases(v, ())
        if cmd == 1033:
            return _seals(v, ())
        if cmd == 1026:
            return _dnotify(v, ())
        if cmd in F.FCNTL:
            return ptr(v)
        return xlong(v)

    return fmt


def fcntl_ret(open_flags: Fmt) -> Callable[[int, int], str]:
    """fcntl's return value, by its command (F_GETFL's flags, F_GETLEASE's lease...)."""

    def fmt(ret: int, cmd: int) -> str:
        cmd &= MASK32
        if cmd == 1 and ret:
            return f"{hex(ret)} (flags {F.flags_of(F.FD_FLAGS, ret)})"
        if cmd == 3:
            return f"{hex(ret)} (flags {open_flags(ret, ())})"
        if cmd == 1025:
            return F.LEASES.get(ret, str(ret))
        if cmd == 1034 and ret:
            return f"{hex(ret)} (seals {F.flags_of(F.SEALS, ret)})"
        return str(ret)

    return fmt


# --- futex ---------------------------------------------------------------------


def futex_utime(v: int, op: int) -> str:
    # REQUEUE-style operations pass a count (val2) where WAIT passes a timeout.
    return u32(v) if op & 0x7F in (3, 4, 5, 12) else ptr(v)


def futex_val3(v: int, op: int) -> str:
    cmd = op & 0x7F
    if cmd in (9, 10):
        return F.futex_val3(v)
    return xint(v) if cmd == 5 else u32(v)


# --- which arguments strace shows ---------------------------------------------


def _shown_if(
    by: str, hidden: str, needed: Callable[[int], bool]
) -> Callable[[Mapping[str, int]], Shown | None]:
    """strace leaves out parameter `hidden` unless `needed(parameter by)`."""

    def make(ix: Mapping[str, int]) -> Shown | None:
        bi, hi = ix.get(by), ix.get(hidden)
        if bi is None or hi is None:
            return None
        without = tuple(i for i in range(len(ix)) if i != hi)

        def shown(a: Sequence[int]) -> Sequence[int] | None:
            return None if needed(a[bi]) else without

        return shown

    return make


# open's mode counts only when it creates; mknod's device only for device files.
_shown_open = _shown_if("flags", "mode", F.open_creates)
_shown_mknod = _shown_if("mode", "dev", F.is_device)
# mremap's new address counts only with MREMAP_FIXED.
_shown_mremap = _shown_if("flags", "new_addr", lambda f: bool(f & F.MREMAP_FIXED))


def _hidden(name: str) -> Callable[[Mapping[str, int]], Shown | None]:
    """strace never shows parameter `name` (the high half of a 64-bit offset
    that 64-bit architectures pass whole in the low one: preadv's pos_h)."""

    def make(ix: Mapping[str, int]) -> Shown | None:
        hi = ix.get(name)
        if hi is None:
            return None
        without = tuple(i for i in range(len(ix)) if i != hi)
        return lambda a: without

    return make


def _shown_fcntl(ix: Mapping[str, int]) -> Shown | None:
    ci = ix.get("cmd")
    if ci is None:
        return None
    c = ci

    def shown(a: Sequence[int]) -> Sequence[int] | None:
        return (0, c) if a[c] & MASK32 in _FCNTL_NOARG else None

    return shown


def _shown_futex(ix: Mapping[str, int]) -> Shown | None:
    oi = ix.get("op")
    if oi is None or len(ix) != 6:
        return None
    o = oi

    def shown(a: Sequence[int]) -> Sequence[int]:
        return F.futex_shown(a[o])

    return shown


def _shown_ioctl(ix: Mapping[str, int]) -> Shown | None:
    ci = ix.get("cmd")
    if ci is None:
        return None
    c = ci
    n = len(ix)

    def shown(a: Sequence[int]) -> Sequence[int] | None:
        return ioctl_shown(a[c], n)

    return shown


def _shown_clone(ix: Mapping[str, int]) -> Shown | None:
    # strace: child_stack, flags, then parent_tid / child_tidptr / tls only
    # when the flags say the kernel uses them.
    try:
        fl, sp = ix["clone_flags"], ix["newsp"]
        ptid, ctid, tls = ix["parent_tidptr"], ix["child_tidptr"], ix["tls"]
    except KeyError:
        return None

    def shown(a: Sequence[int]) -> Sequence[int]:
        f = a[fl]
        out = [sp, fl]
        if f & (F.CLONE_PARENT_SETTID | F.CLONE_PIDFD):
            out.append(ptid)
        if f & F.CLONE_CHILD_TID:
            out.append(ctid)
        if f & F.CLONE_SETTLS:
            out.append(tls)
        return out

    return shown


# syscall name -> (parameter name -> index) -> which argument indexes to show
# for a call's registers (None: all of them).
SHOWN: dict[str, Callable[[Mapping[str, int]], Shown | None]] = {
    "open": _shown_open, "openat": _shown_open, "fcntl": _shown_fcntl, "futex": _shown_futex,
    "ioctl": _shown_ioctl, "clone": _shown_clone, "mknod": _shown_mknod,
    "mknodat": _shown_mknod, "mremap": _shown_mremap,
    # rt_sigreturn has no parameters; the recorder puts the address of the
    # mask it read in the first register's place, 0 when it read none.
    "rt_sigreturn": _shown_if("arg0", "arg0", bool),
    "preadv": _hidden("pos_h"), "pwritev": _hidden("pos_h"), "preadv2": _hidden("pos_h"),
    "pwritev2": _hidden("pos_h"),
}  # fmt: skip

# strace names clone's arguments in its output.
LABELS: dict[str, dict[str, str]] = {
    "clone": {"newsp": "child_stack=", "clone_flags": "flags=", "parent_tidptr": "parent_tid=",
              "child_tidptr": "child_tidptr=", "tls": "tls="},
}  # fmt: skip
