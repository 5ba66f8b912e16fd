"""More fixed-size objects, decoded as strace shows them: interval timers,
timerfd settings, signal stacks and sets, uname, sysinfo, utimensat's times,
epoll_ctl's event, wait4's rusage and clone3's
arguments.

Decoders have sidecar/render/structs.py's signature: (captured bytes, the
call's registers, its return value) -> (strace's text, a JSON value), or None
to show the pointer. Layouts are 64-bit little-endian (x86_64 and arm64) unless
a decoder says otherwise.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Sequence
from typing import Any

from sidecar.render.flags import (
    CLONE,
    CLONE_CHILD_TID,
    CLONE_PARENT_SETTID,
    CLONE_PIDFD,
    CLONE_SETTLS,
    flags_of,
)
from sidecar.render.siginfo import fields as siginfo_fields
from sidecar.render.signals import signal_name
from sidecar.render.strings import escape, text
from sidecar.render.structs import Decoded, Decoder, sigset, timespec
from sidecar.render.values import MASK32

EPOLL_EVENTS = (
    (0x001, "EPOLLIN"), (0x002, "EPOLLPRI"), (0x004, "EPOLLOUT"), (0x008, "EPOLLERR"),
    (0x010, "EPOLLHUP"), (0x020, "EPOLLNVAL"), (0x040, "EPOLLRDNORM"), (0x080, "EPOLLRDBAND"),
    (0x100, "EPOLLWRNORM"), (0x200, "EPOLLWRBAND"), (0x400, "EPOLLMSG"), (0x2000, "EPOLLRDHUP"),
    (1 << 27, "EPOLL_URING_WAKE"), (1 << 28, "EPOLLEXCLUSIVE"), (1 << 29, "EPOLLWAKEUP"),
    (1 << 30, "EPOLLONESHOT"), (1 << 31, "EPOLLET"),
)  # fmt: skip
_SS_FLAGS = ((1, "SS_ONSTACK"), (2, "SS_DISABLE"), (1 << 31, "SS_AUTODISARM"))
_UTIME_NOW = (1 << 30) - 1
_UTIME_OMIT = (1 << 30) - 2
CLONE_INTO_CGROUP = 1 << 33


def _pair(fields: Sequence[tuple[str, int]]) -> tuple[str, dict[str, int]]:
    return "{" + ", ".join(f"{k}={v}" for k, v in fields) + "}", dict(fields)


def _timeval(sec: int, usec: int) -> tuple[str, dict[str, int]]:
    return _pair((("tv_sec", sec), ("tv_usec", usec)))


def _ts(sec: int, nsec: int) -> tuple[str, dict[str, int]]:
    return _pair((("tv_sec", sec), ("tv_nsec", nsec)))


def _interval(
    data: bytes, make: Callable[[int, int], tuple[str, dict[str, int]]]
) -> Decoded | None:
    """itimerval and itimerspec: it_interval, then it_value."""
    if len(data) < 32:
        return None
    isec, ifrac, vsec, vfrac = struct.unpack_from("<qqqq", data)
    it, ij = make(isec, ifrac)
    vt, vj = make(vsec, vfrac)
    return f"{{it_interval={it}, it_value={vt}}}", {"it_interval": ij, "it_value": vj}


def itimerval(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    return _interval(data, _timeval)


def itimerspec(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    return _interval(data, _ts)


def rusage(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """wait4's rusage: strace shows the two times, then `...`."""
    if len(data) < 32 or ret is None or ret < 0:
        return None
    us, uu, ss, su = struct.unpack_from("<qqqq", data)
    ut, uj = _timeval(us, uu)
    st, sj = _timeval(ss, su)
    return f"{{ru_utime={ut}, ru_stime={st}, ...}}", {"ru_utime": uj, "ru_stime": sj}


def stack_t(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """sigaltstack's `{ss_sp=0x..., ss_flags=SS_DISABLE, ss_size=65536}`."""
    if len(data) < 24:
        return None
    (sp,) = struct.unpack_from("<Q", data, 0)
    (flags,) = struct.unpack_from("<i", data, 8)
    (size,) = struct.unpack_from("<Q", data, 16)
    spt = hex(sp) if sp else "NULL"
    ft = flags_of(_SS_FLAGS, flags & MASK32)
    return (
        f"{{ss_sp={spt}, ss_flags={ft}, ss_size={size}}}",
        {"ss_sp": spt, "ss_flags": ft, "ss_size": size},
    )


def utsname(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """uname's `{sysname="Linux", nodename="vm", ...}`: the first two fields."""
    if len(data) < 130:
        return None
    names = [data[i * 65 : (i + 1) * 65].split(b"\0", 1)[0] for i in range(2)]
    t = f'{{sysname="{escape(names[0])}", nodename="{escape(names[1])}", ...}}'
    return t, {"sysname": text(names[0]), "nodename": text(names[1])}


_SYSINFO = ("uptime", "loads", "totalram", "freeram", "sharedram", "bufferram", "totalswap",
            "freeswap", "procs", "totalhigh", "freehigh", "mem_unit")  # fmt: skip


def sysinfo(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """struct sysinfo, every field, as strace shows it."""
    if len(data) < 108:
        return None
    uptime, l1, l2, l3 = struct.unpack_from("<qQQQ", data, 0)
    rams = struct.unpack_from("<6Q", data, 32)
    (procs,) = struct.unpack_from("<H", data, 80)
    high = struct.unpack_from("<QQ", data, 88)
    (unit,) = struct.unpack_from("<I", data, 104)
    values: list[Any] = [uptime, [l1, l2, l3], *rams, procs, *high, unit]
    js = dict(zip(_SYSINFO, values, strict=True))
    parts = [f"{k}=[{', '.join(map(str, v))}]" if k == "loads" else f"{k}={v}"
             for k, v in js.items()]  # fmt: skip
    return "{" + ", ".join(parts) + "}", js


def _utime(sec: int, nsec: int) -> tuple[str, Any]:
    if nsec == _UTIME_NOW:
        return "UTIME_NOW", "UTIME_NOW"
    if nsec == _UTIME_OMIT:
        return "UTIME_OMIT", "UTIME_OMIT"
    t, j = _ts(sec, nsec)
    try:
        when = datetime.datetime.fromtimestamp(sec).astimezone()
    except (OverflowError, OSError, ValueError):
        return t, j
    if 0 <= nsec < 1_000_000_000:  # strace's comment: the local time, to the nanosecond
        t += f" /* {when:%Y-%m-%dT%H:%M:%S}.{nsec:09d}{when:%z} */"
    return t, j


def utimens(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """utimensat's two times: `[{tv_sec=..., tv_nsec=...} /* date */, UTIME_OMIT]`."""
    if len(data) < 32:
        return None
    s0, n0, s1, n1 = struct.unpack_from("<qqqq", data)
    (t0, j0), (t1, j1) = _utime(s0, n0), _utime(s1, n1)
    return f"[{t0}, {t1}]", [j0, j1]


# epoll_event: x86_64 packs it (12 bytes, data right after events); arm64
# (and the other 64-bit architectures) align data to 8 (16 bytes).
EPOLL_LAYOUTS = {"x86_64": (12, "<IQ"), "aarch64": (16, "<I4xQ"), "arm64": (16, "<I4xQ")}


def epoll_event_decoder(arch: str) -> Decoder | None:
    layout = EPOLL_LAYOUTS.get(arch)
    if layout is None:
        return None
    size, fmt = layout

    def epoll_event(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
        if len(data) < size:
            return None
        return epoll_event_text(data, 0, fmt)

    return epoll_event


def epoll_event_text(data: bytes, at: int, fmt: str = "<IQ") -> tuple[str, dict[str, Any]]:
    events, u64 = struct.unpack_from(fmt, data, at)
    ev = flags_of(EPOLL_EVENTS, events)
    u32 = u64 & MASK32
    t = f"{{events={ev}, data={{u32={u32}, u64={u64}}}}}"
    return t, {"events": ev, "data": {"u32": u32, "u64": u64}}


_SIGWAIT = 17  # Kind.SIGWAIT (sidecar/dump/captures.py): the set, then the timeout


def sigwait_joint(
    caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
) -> dict[int, Decoded]:
    """rt_sigtimedwait's timeout, read into one capture after its set (the
    siginfo it fills in takes the other): `{tv_sec=0, tv_nsec=0}`; it keeps
    its pointer (NULL) when the capture has none. The set is decoded as the
    capture's own argument (vectors.sigwait_set)."""
    data = next((c[2] for c in caps if c[0] == 0 and c[1] == _SIGWAIT), None)
    if not isinstance(data, bytes) or len(data) < 24:
        return {}
    tmo = timespec(data[8:24], a, ret)
    return {} if tmo is None else {2: tmo}


_CLONE3_FLAGS = ((0x80, "CLONE_NEWTIME"), *CLONE, (1 << 32, "CLONE_CLEAR_SIGHAND"),
                 (1 << 33, "CLONE_INTO_CGROUP"))  # fmt: skip
_CLONE_ARGS_VER0 = 64  # up to tls; set_tid and cgroup came later
_CLONE_ARGS_VER2 = 88


def _addr(v: int) -> str:
    return hex(v) if v else "NULL"


def clone3(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    return clone3_with(data, a, ret, None)


def clone3_with(
    data: bytes, a: Sequence[int], ret: int | None, new_fd: int | None
) -> Decoded | None:
    """struct clone_args as strace shows it: the fields the flags use, and
    after a successful call what the kernel wrote back, `=> {pidfd=[3],
    parent_tid=[N]}`: the new pidfd (CLONE_PIDFD; `new_fd` as the recorder read
    it, kind 18) and the parent's copy of the new thread's id (it is also
    the return value)."""
    size = a[1]
    if size < _CLONE_ARGS_VER0 or len(data) < min(size, _CLONE_ARGS_VER2):
        return None
    flags, pidfd, ctid, ptid, sig, stack, stack_size, tls = struct.unpack_from("<8Q", data)
    fields = [("flags", flags_of(_CLONE3_FLAGS, flags))]
    if flags & CLONE_PIDFD:
        fields.append(("pidfd", _addr(pidfd)))
    if flags & CLONE_CHILD_TID:
        fields.append(("child_tid", _addr(ctid)))
    if flags & CLONE_PARENT_SETTID:
        fields.append(("parent_tid", _addr(ptid)))
    fields += [("exit_signal", signal_name(sig) if sig else "0"), ("stack", _addr(stack)),
               ("stack_size", hex(stack_size) if stack_size else "0")]  # fmt: skip
    if flags & CLONE_SETTLS:
        fields.append(("tls", _addr(tls)))
    if size >= _CLONE_ARGS_VER2:
        set_tid, set_tid_size, cgroup = struct.unpack_from("<3Q", data, 64)
        if set_tid or set_tid_size:
            fields += [("set_tid", _addr(set_tid)), ("set_tid_size", str(set_tid_size))]
        if cgroup or flags & CLONE_INTO_CGROUP:
            fields.append(("cgroup", str(cgroup)))
    text = "{" + ", ".join(f"{k}={v}" for k, v in fields) + "}"
    js: dict[str, Any] = dict(fields)
    # Without the pidfd's number (an older dump, an unreadable one) strace's
    # `=> {...}` is left out.
    back: dict[str, int] = {}
    if ret is not None and ret > 0 and (new_fd is not None or not flags & CLONE_PIDFD):
        if flags & CLONE_PIDFD and new_fd is not None:
            back["pidfd"] = new_fd
        if flags & CLONE_PARENT_SETTID:
            back["parent_tid"] = ret
    if back:
        text += " => {" + ", ".join(f"{k}=[{v}]" for k, v in back.items()) + "}"
        js["returned"] = back
    return text, js


_PIDFD = 18  # Kind.PIDFD (sidecar/dump/captures.py)


def clone3_joint(
    caps: Sequence[Sequence[Any]], a: Sequence[int], ret: int | None, limit: int | None
) -> dict[int, Decoded]:
    """clone3's struct with the pidfd the kernel wrote through it (a capture
    of its own, read when the call returned)."""
    args = next((c[2] for c in caps if c[0] == 0 and c[1] == 6), None)
    fd = next((c[2] for c in caps if c[1] == _PIDFD), None)
    if not isinstance(args, bytes) or not isinstance(fd, bytes) or len(fd) < 4:
        return {}
    got = clone3_with(args, a, ret, struct.unpack_from("<i", fd)[0])
    return {} if got is None else {0: got}


def siginfo(data: bytes, a: Sequence[int], ret: int | None) -> Decoded | None:
    """A siginfo_t the call filled in (waitid, rt_sigtimedwait), as strace's
    printsiginfo shows it; `{}` when nothing was there (si_signo 0: waitid
    with WNOHANG and no child to report)."""
    if len(data) < 48:
        return None
    signo, err, code, _pad, *union = struct.unpack_from("<iiii4Q", data)
    if signo == 0:
        return "{}", {}
    got = siginfo_fields([signo, code & MASK32, *union], err)
    return "{" + ", ".join(f"{k}={t}" for k, t, _ in got) + "}", {k: v for k, _, v in got}


def _fixed(d: Decoder) -> Callable[[str], Decoder | None]:
    return lambda arch: d


# Syscall -> argument index -> decoder for the dump's architecture.
BY_SYSCALL: dict[str, dict[int, Callable[[str], Decoder | None]]] = {
    "setitimer": {1: _fixed(itimerval), 2: _fixed(itimerval)},
    "getitimer": {1: _fixed(itimerval)},
    "timerfd_settime": {2: _fixed(itimerspec), 3: _fixed(itimerspec)},
    "timerfd_gettime": {1: _fixed(itimerspec)},
    "wait4": {3: _fixed(rusage)},
    "waitid": {2: _fixed(siginfo), 4: _fixed(rusage)},
    "sigaltstack": {0: _fixed(stack_t), 1: _fixed(stack_t)},
    "rt_sigpending": {0: _fixed(sigset(1))}, "rt_sigsuspend": {0: _fixed(sigset(1))},
    # The set and timeout of dumps made before they shared one capture.
    "rt_sigtimedwait": {0: _fixed(sigset(3)), 1: _fixed(siginfo), 2: _fixed(timespec)},
    "epoll_pwait": {4: _fixed(sigset(5))},
    "ppoll": {2: _fixed(timespec)},
    "uname": {0: _fixed(utsname)}, "sysinfo": {0: _fixed(sysinfo)},
    "utimensat": {2: _fixed(utimens)},
    "epoll_ctl": {3: epoll_event_decoder},
    "clone3": {0: _fixed(clone3)},
}  # fmt: skip


def more_decoders(name: str, arch: str) -> dict[int, Decoder]:
    found = {i: make(arch) for i, make in BY_SYSCALL.get(name, {}).items()}
    return {i: d for i, d in found.items() if d is not None}


Joint = Callable[
    [Sequence[Sequence[Any]], Sequence[int], int | None, int | None], dict[int, Decoded]
]
# Syscalls whose captures decode together (one's meaning depends on another's;
# the socket options' are in sockopts, the fd sets' in fdsets).
JOINT: dict[str, Joint] = {
    "rt_sigtimedwait": sigwait_joint,
    "clone3": clone3_joint,
}
