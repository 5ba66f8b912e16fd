"""Which formatter shows each parameter of a syscall.

For each parameter the formatter is chosen once, from the most specific rule
that matches:

1. `specs(arch)`: this syscall's parameter (open's `flags` -> O_RDONLY|O_CLOEXEC);
2. `by_name`: the parameter's name (`dfd` -> AT_FDCWD, `*fd` -> signed int);
3. `by_type`: its C type (pointers in hex, `int` as signed 32-bit, `size_t` unsigned...).

A formatter that needs another argument's value is a `Ctx`, bound to that
argument's index by `formatter`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from sidecar.render import flags as F
from sidecar.render.ioctls import ioctl_arg, request
from sidecar.render.special import fcntl_arg, futex_utime, futex_val3
from sidecar.render.values import (
    Fmt,
    bitflags,
    dirfd,
    enum,
    enum_or_int,
    octal,
    ptr,
    s32,
    s64,
    u32,
    u64,
    xint,
    xlong,
)


class Ctx(NamedTuple):
    """A formatter that needs another argument's value: fn(value, other)."""

    fn: Callable[[int, int], str]
    other: str


# --- per syscall --------------------------------------------------------------

Spec = Mapping[str, Fmt | Ctx]


@functools.cache
def specs(arch: str) -> dict[str, Spec]:
    """Per-syscall parameter formatters, for one architecture's flag values."""
    of = F.open_flags(F.open_table(arch))
    prot = bitflags(F.PROT, "PROT_NONE")
    at = bitflags(F.AT_FLAGS)
    access = bitflags(F.ACCESS_MODES, "F_OK")
    sig = F.signal
    msg = bitflags(F.MSG)
    clocks = enum_or_int(F.CLOCKS)
    rlimit = enum(F.RLIMIT, "RLIMIT_")
    socket: Spec = {
        "family": enum(F.AF, "AF_"),
        "type": F.socket_type,
        "protocol": Ctx(F.socket_protocol, "family"),
    }
    sockopt: Spec = {"level": enum_or_int(F.SOL), "optname": Ctx(F.sockopt_name, "level")}
    mknod: Spec = {"mode": F.filetype_mode, "dev": lambda v, a: F.makedev(v)}
    unshare = bitflags(F.UNSHARE)
    return {
        "open": {"flags": of},
        "openat": {"flags": of},
        "access": {"mode": access},
        "faccessat": {"mode": access},
        "faccessat2": {"mode": access, "flags": bitflags(F.AT_EACCESS_FLAGS)},
        "newfstatat": {"flag": at},
        "fstatat64": {"flag": at},
        "statx": {
            "flags": F.statx_flags,
            "mask": bitflags(F.STATX_MASK),
        },
        "unlinkat": {"flag": bitflags(F.AT_REMOVEDIR)},
        "fchownat": {"flag": at},
        "linkat": {"flags": at},
        "utimensat": {"flags": at},
        "execveat": {"flags": at},
        "name_to_handle_at": {"flag": at},
        "renameat2": {"flags": bitflags(F.RENAME_FLAGS)},
        "mknod": mknod,
        "mknodat": mknod,
        "umask": {"mask": octal},
        "mmap": {
            "addr": ptr,
            "prot": prot,
            "flags": F.mmap_flags(F.map_table(arch)),
            "fd": s32,
            "off": xlong,
        },
        "mprotect": {"start": ptr, "prot": prot},
        "pkey_mprotect": {"start": ptr, "prot": prot},
        "munmap": {"addr": ptr},
        "mremap": {"addr": ptr, "flags": bitflags(F.MREMAP), "new_addr": ptr},
        "brk": {"brk": ptr},
        "madvise": {"start": ptr, "behavior": enum(F.MADV, "MADV_")},
        "msync": {"start": ptr},
        "fadvise64": {"advice": enum(F.FADVISE, "POSIX_FADV_")},
        "mincore": {"start": ptr},
        "mlock2": {"start": ptr},
        "memfd_create": {"flags": bitflags(F.MEMFD)},
        "socket": socket,
        "socketpair": socket,
        "accept4": {"flags": F.sock_flags},
        "sendto": {"flags": msg},
        "recvfrom": {"flags": msg},
        "sendmsg": {"flags": msg},
        "recvmsg": {"flags": msg},
        "sendmmsg": {"flags": msg},
        "recvmmsg": {"flags": msg},
        "shutdown": {"how": enum(F.SHUTDOWN, "SHUT_")},
        "setsockopt": sockopt,
        "getsockopt": sockopt,
        "clone": {"clone_flags": F.clone_flags, "newsp": ptr, "tls": xlong},
        "unshare": {"unshare_flags": unshare},
        "setns": {"flags": unshare, "nstype": unshare},
        "wait4": {"options": bitflags(F.WAIT_OPTIONS)},
        "waitid": {"which": enum(F.IDTYPE, "P_"), "options": bitflags(F.WAIT_OPTIONS)},
        "kill": {"sig": sig},
        "tkill": {"sig": sig},
        "tgkill": {"sig": sig},
        "rt_sigqueueinfo": {"sig": sig},
        "rt_tgsigqueueinfo": {"sig": sig},
        "pidfd_send_signal": {"sig": sig},
        "rt_sigaction": {"sig": sig},
        "rt_sigprocmask": {"how": enum(F.SIGPROCMASK_HOW, "SIG_")},
        "fcntl": {"cmd": enum(F.FCNTL, "F_"), "arg": Ctx(fcntl_arg(of), "cmd")},
        "ioctl": {"cmd": request, "arg": Ctx(ioctl_arg, "cmd")},
        "lseek": {"offset": s64, "whence": enum(F.SEEK, "SEEK_")},
        "dup3": {"flags": bitflags(F.O_CLOEXEC_ONLY)},
        "pipe2": {"flags": bitflags(F.PIPE2)},
        "eventfd2": {"flags": bitflags(F.EVENTFD)},
        "epoll_create1": {"flags": bitflags(F.EPOLL_CREATE)},
        "epoll_ctl": {"op": enum(F.EPOLL_CTL, "EPOLL_CTL_")},
        "inotify_init1": {"flags": bitflags(F.INOTIFY_INIT)},
        "signalfd4": {"flags": bitflags(F.SIGNALFD)},
        "timerfd_create": {"clockid": clocks, "flags": bitflags(F.TIMERFD_CREATE)},
        "timerfd_settime": {"flags": bitflags(F.TIMERFD_SETTIME)},
        "close_range": {"flags": bitflags(F.CLOSE_RANGE)},
        "futex": {
            "uaddr": ptr,
            "op": F.futex_op,
            "val": u32,
            "utime": Ctx(futex_utime, "op"),
            "uaddr2": ptr,
            "val3": Ctx(futex_val3, "op"),
        },
        "prlimit64": {"resource": rlimit},
        "getrlimit": {"resource": rlimit},
        "setrlimit": {"resource": rlimit},
        "arch_prctl": {"option": enum(F.ARCH_PRCTL, "ARCH_"), "arg2": xlong},
        "prctl": {
            "option": enum(F.PRCTL, "PR_"),
            "arg2": xlong,
            "arg3": xlong,
            "arg4": xlong,
            "arg5": xlong,
        },
        "setitimer": {"which": enum(F.ITIMERS, "ITIMER_")},
        "getitimer": {"which": enum(F.ITIMERS, "ITIMER_")},
        "preadv2": {"flags": bitflags(F.RWF)},
        "pwritev2": {"flags": bitflags(F.RWF)},
        "clock_gettime": {"which_clock": clocks},
        "clock_settime": {"which_clock": clocks},
        "clock_getres": {"which_clock": clocks},
        "clock_nanosleep": {"which_clock": clocks, "flags": bitflags(F.TIMER_FLAGS)},
        "getrandom": {"flags": bitflags(F.GETRANDOM)},
        "flock": {"cmd": bitflags(F.FLOCK)},
        "mount": {"flags": bitflags(F.MOUNT)},
        "umount2": {"flags": bitflags(F.UMOUNT)},
        "rseq": {"rseq_len": xint, "sig": xint},
    }


# tracefs has no format for a few syscalls under these names (x86_64 traces
# `newstat` for `stat`...): their parameters, so they still decode.
FALLBACK_PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "stat": (("filename", "const char *"), ("statbuf", "struct stat *")),
    "lstat": (("filename", "const char *"), ("statbuf", "struct stat *")),
    "fstat": (("fd", "unsigned int"), ("statbuf", "struct stat *")),
    "sendfile": (("out_fd", "int"), ("in_fd", "int"), ("offset", "loff_t *"),
                 ("count", "size_t")),
    "umount2": (("name", "char *"), ("flags", "int")),
    "uname": (("name", "struct new_utsname *"),),
}  # fmt: skip

_SIGNED32 = frozenset(
    {"int", "pid_t", "__s32", "s32", "key_t", "mqd_t", "clockid_t", "timer_t", "key_serial_t",
     "uid_t", "gid_t", "qid_t", "old_uid_t", "old_gid_t"}
)  # fmt: skip
_SIGNED64 = frozenset({"long", "off_t", "loff_t", "ssize_t", "__kernel_old_time_t", "time_t",
                       "__s64", "s64"})  # fmt: skip
_UNSIGNED32 = frozenset({"unsigned int", "unsigned", "u32", "__u32", "rwf_t", "__poll_t"})
_POINTER_TYPEDEFS = frozenset({"cap_user_header_t", "cap_user_data_t"})


RAW = "(raw register)"  # the type given to arguments of syscalls the dump's table lacks


def by_type(ctype: str) -> Fmt:
    if ctype == RAW:
        return xlong  # strace shows an unknown syscall's arguments in hex
    t = ctype.replace("const ", "").replace("volatile ", "").strip()
    if "*" in t or t in _POINTER_TYPEDEFS:
        return ptr
    if t == "umode_t":
        return octal
    if t in _SIGNED32:
        return s32
    if t in _SIGNED64:
        return s64
    if t in _UNSIGNED32:
        return u32
    return u64


def by_name(name: str, ctype: str) -> Fmt | None:
    if "*" in ctype:
        return None
    if name.endswith("dfd"):
        return dirfd
    if name.endswith("fd") or name in ("fd_in", "fd_out", "fildes"):
        return s32
    return None


def formatter(spec: Spec, ix: Mapping[str, int], pname: str, ctype: str) -> Fmt:
    """The formatter of parameter `pname` (of C type `ctype`) in a syscall whose
    parameters are at the indexes `ix`, by the rules above."""
    f = spec.get(pname)
    if isinstance(f, Ctx):
        return _bind(f, ix, ctype)
    return f or by_name(pname, ctype) or by_type(ctype)


def _bind(ctx: Ctx, ix: Mapping[str, int], ctype: str) -> Fmt:
    oi = ix.get(ctx.other)
    if oi is None:  # the table lacks the other parameter: fall back to the type
        return by_type(ctype)
    fn = ctx.fn
    o = oi

    def fmt(v: int, a: Sequence[int]) -> str:
        return fn(v, a[o])

    return fmt
