"""Which syscall arguments point at memory worth capturing, and how.

The kernel side gets this as a per-syscall entry in a map: up to two captured
arguments per call, each with a kind and (for buffers and sockaddrs) the
argument that holds the length, or (for fixed-size objects: a stat, a
timespec, a wait status) the object's size. Everything else is recorded as a
raw integer.
"""

from __future__ import annotations

import platform
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum


class Kind(IntEnum):
    NONE = 0
    STR = 1  # NUL-terminated path or name, read at enter
    BUF_IN = 2  # buffer the call reads: length from another argument, read at enter
    BUF_OUT = 3  # buffer the call fills: read at exit, length = return value
    SA_IN = 4  # struct sockaddr passed in: length from another argument
    SA_OUT = 5  # struct sockaddr filled by the call: read at exit
    OBJ_IN = 6  # fixed-size object the call reads (timespec, sigset...): read at enter
    OBJ_OUT = 7  # fixed-size object the call fills (stat, wait status...): read at exit
    ARGV = 8  # execve's argv: the first ARGV_N strings, read at enter
    ARRAY = 9  # array read at exit: len_arg = element size << 3 | count (argument, 7: return)
    IOV_IN = 10  # iovec array and its data, read at enter: len_arg = the count argument
    IOV_OUT = 11  # the same, read at exit up to the return value
    MSG_IN = 12  # struct msghdr, its name and iovecs, read at enter: len_arg 1 with data
    MSG_OUT = 13  # the same, read at exit
    DIRENTS = 14  # getdents64's entries, counted at exit: u32 count, u32 1 if more
    SIGFRAME = 15  # rt_sigreturn's mask, from the signal frame at the stack pointer
    TIMEOUT = 16  # futex's timespec, at enter, for waiting operations: len_arg = the op
    SIGWAIT = 17  # rt_sigtimedwait's 8-byte set, then its timespec (len_arg) unless NULL
    PIDFD = 18  # clone3's new pidfd (4 bytes), read at exit at the address in its clone_args
    SOCKOPT = 19  # getsockopt's value at exit, as long as the length at len_arg says
    FDSETS_IN = 20  # select's fd sets and timeout at enter (len_arg 5: pselect6's sigmask too)
    FDSETS_OUT = 21  # the same sets and the time left, at exit when the call returned > 0
    TS_SIGSET = 22  # ppoll's timespec and the next argument's sigset, at enter (either NULL)
    CMSG = 23  # the control messages msghdr names, at exit: full_len = msg_controllen


NO_LEN = 0xFF
MAX_CAPTURES = 2
ARGV_N = 8  # argv strings captured, each in 1/ARGV_N of a capture area
IOV_N = 8  # iovecs whose lengths and data are captured
ENVP_N = 64  # execve's environment pointers counted (in ARGV's full_len, bits 16 and up)
RET = 7  # ARRAY's count: the return value
CMSG_CAP = 64  # control message bytes a CMSG capture keeps
FDSET_BYTES = 64  # each fd set's bytes the recorder keeps: descriptors 0-511


@dataclass(frozen=True, slots=True)
class Capture:
    arg: int
    kind: Kind
    len_arg: int = NO_LEN  # for OBJ_IN and OBJ_OUT: the object's size in bytes
    secret: bool = False  # data (left out with --no-buffers) whatever its kind


def _s(*args: int) -> tuple[Capture, ...]:
    return tuple(Capture(a, Kind.STR) for a in args)


def _in(arg: int, size: int) -> Capture:
    return Capture(arg, Kind.OBJ_IN, size)


def _out(arg: int, size: int) -> Capture:
    return Capture(arg, Kind.OBJ_OUT, size)


def _array(arg: int, size: int, count: int) -> Capture:
    """`count` elements of `size` bytes at exit; `count` an argument or RET."""
    return Capture(arg, Kind.ARRAY, size << 3 | count)


# strace shows a stat as {st_mode=..., st_size=... or st_rdev=..., ...}: all of
# it lies in the first 56 bytes on x86_64 and arm64 alike.
STAT = 56
STATX = 48  # up to stx_size, which strace shows last
SIGACTION = 32  # the kernel's: handler, flags, restorer, mask
SIGSET = 8
TIMESPEC = 16
RLIMIT = 16
POLLFD = 8
EPOLL_EVENT = 12  # packed on x86_64 (the table's size); 16 elsewhere (arm64)
EPOLL_EVENT_PADDED = 16
ITIMERVAL = 32
ITIMERSPEC = 32
STACK_T = 24
RUSAGE_TIMES = 32  # ru_utime and ru_stime: strace shows those, then `...`
UTSNAME_SHOWN = 130  # sysname and nodename
SYSINFO = 108  # up to mem_unit
TIMESPEC2 = 32  # utimensat's two times
CLONE_ARGS = 88  # struct clone_args up to cgroup (CLONE_ARGS_SIZE_VER2)
SOCKLEN = 4  # getsockopt's optlen, read at enter (the value's capture holds the one at exit)
SIGINFO = 48  # siginfo_t up to the end of the union's fields strace shows


# Syscall name -> captures, at most MAX_CAPTURES each. Names missing on an
# architecture (open, rename...) are simply not found there.
TABLE: dict[str, tuple[Capture, ...]] = {
    # paths
    "open": _s(0), "creat": _s(0), "openat": _s(1), "openat2": _s(1),
    "execve": (Capture(0, Kind.STR), Capture(1, Kind.ARGV)),
    "execveat": (Capture(1, Kind.STR), Capture(2, Kind.ARGV)),
    "access": _s(0), "faccessat": _s(1), "faccessat2": _s(1),
    "stat": (Capture(0, Kind.STR), _out(1, STAT)), "lstat": (Capture(0, Kind.STR), _out(1, STAT)),
    "newfstatat": (Capture(1, Kind.STR), _out(2, STAT)),
    "statx": (Capture(1, Kind.STR), _out(4, STATX)), "statfs": _s(0),
    "readlink": (Capture(0, Kind.STR), Capture(1, Kind.BUF_OUT)),
    "readlinkat": (Capture(1, Kind.STR), Capture(2, Kind.BUF_OUT)),
    "unlink": _s(0), "unlinkat": _s(1), "rmdir": _s(0), "mkdir": _s(0), "mkdirat": _s(1),
    "mknod": _s(0), "mknodat": _s(1), "chdir": _s(0), "chroot": _s(0),
    "chmod": _s(0), "fchmodat": _s(1), "chown": _s(0), "lchown": _s(0), "fchownat": _s(1),
    "truncate": _s(0), "utimensat": (Capture(1, Kind.STR), _in(2, TIMESPEC2)),
    "utimes": _s(0), "utime": _s(0),
    "rename": _s(0, 1), "renameat": _s(1, 3), "renameat2": _s(1, 3),
    "link": _s(0, 1), "linkat": _s(1, 3), "symlink": _s(0, 1), "symlinkat": _s(0, 2),
    "mount": _s(0, 1), "umount2": _s(0), "pivot_root": _s(0, 1),
    "swapon": _s(0), "swapoff": _s(0), "acct": _s(0),
    "getxattr": _s(0, 1), "lgetxattr": _s(0, 1), "setxattr": _s(0, 1), "lsetxattr": _s(0, 1),
    "listxattr": _s(0), "removexattr": _s(0, 1), "inotify_add_watch": _s(1),
    "memfd_create": _s(0), "sethostname": _s(0), "delete_module": _s(0), "init_module": (),
    "fanotify_mark": _s(4), "name_to_handle_at": _s(1), "open_tree": _s(1), "move_mount": _s(1, 3),
    "fsopen": _s(0), "mq_open": _s(0), "mq_unlink": _s(0),
    # buffers
    "write": (Capture(1, Kind.BUF_IN, 2),),
    "pwrite64": (Capture(1, Kind.BUF_IN, 2),),
    "read": (Capture(1, Kind.BUF_OUT),),
    "pread64": (Capture(1, Kind.BUF_OUT),),
    "getcwd": (Capture(0, Kind.BUF_OUT),),
    "sendto": (Capture(1, Kind.BUF_IN, 2), Capture(4, Kind.SA_IN, 5)),
    "recvfrom": (Capture(1, Kind.BUF_OUT), Capture(4, Kind.SA_OUT)),
    # sockaddrs
    "connect": (Capture(1, Kind.SA_IN, 2),),
    "bind": (Capture(1, Kind.SA_IN, 2),),
    "accept": (Capture(1, Kind.SA_OUT),),
    "accept4": (Capture(1, Kind.SA_OUT),),
    "getsockname": (Capture(1, Kind.SA_OUT),),
    "getpeername": (Capture(1, Kind.SA_OUT),),
    # fixed-size objects
    "fstat": (_out(1, STAT),),
    "pipe": (_out(0, 8),), "pipe2": (_out(0, 8),), "socketpair": (_out(3, 8),),
    "rt_sigaction": (_in(1, SIGACTION), _out(2, SIGACTION)),
    "rt_sigprocmask": (_in(1, SIGSET), _out(2, SIGSET)),
    "nanosleep": (_in(0, TIMESPEC),), "clock_nanosleep": (_in(2, TIMESPEC),),
    "clock_gettime": (_out(1, TIMESPEC),),
    "getrlimit": (_out(1, RLIMIT),), "setrlimit": (_in(1, RLIMIT),),
    "prlimit64": (_in(2, RLIMIT), _out(3, RLIMIT)),
    # arrays, iovecs and message headers
    "poll": (_array(0, POLLFD, 1),), "ppoll": (_array(0, POLLFD, 1), Capture(2, Kind.TS_SIGSET)),
    "epoll_wait": (_array(1, EPOLL_EVENT, RET),),
    "epoll_pwait": (_array(1, EPOLL_EVENT, RET), _in(4, SIGSET)),
    "epoll_ctl": (_in(3, EPOLL_EVENT),),
    "readv": (Capture(1, Kind.IOV_OUT, 2),), "preadv": (Capture(1, Kind.IOV_OUT, 2),),
    "preadv2": (Capture(1, Kind.IOV_OUT, 2),),
    "writev": (Capture(1, Kind.IOV_IN, 2),), "pwritev": (Capture(1, Kind.IOV_IN, 2),),
    "pwritev2": (Capture(1, Kind.IOV_IN, 2),),
    "sendmsg": (Capture(1, Kind.MSG_IN, 1), Capture(1, Kind.CMSG)),
    "recvmsg": (Capture(1, Kind.MSG_OUT, 1), Capture(1, Kind.CMSG)),
    "setsockopt": (Capture(3, Kind.BUF_IN, 4, secret=True),),
    "getsockopt": (Capture(3, Kind.SOCKOPT, 4, secret=True), _in(4, SOCKLEN)),
    # fd sets: the ready ones at exit (the first capture: read at exit), the
    # asked ones with the timeout at enter (pselect6's sigmask pair, argument 5)
    "select": (Capture(1, Kind.FDSETS_OUT), Capture(1, Kind.FDSETS_IN)),
    "pselect6": (Capture(1, Kind.FDSETS_OUT, 5), Capture(1, Kind.FDSETS_IN, 5)),
    # more fixed-size objects
    "wait4": (_out(1, 4), _out(3, RUSAGE_TIMES)),
    "waitid": (_out(2, SIGINFO), _out(4, RUSAGE_TIMES)),
    "setitimer": (_in(1, ITIMERVAL), _out(2, ITIMERVAL)), "getitimer": (_out(1, ITIMERVAL),),
    "timerfd_settime": (_in(2, ITIMERSPEC), _out(3, ITIMERSPEC)),
    "timerfd_gettime": (_out(1, ITIMERSPEC),),
    "sigaltstack": (_in(0, STACK_T), _out(1, STACK_T)),
    "rt_sigpending": (_out(0, SIGSET),), "rt_sigsuspend": (_in(0, SIGSET),),
    "rt_sigtimedwait": (Capture(0, Kind.SIGWAIT, 2), _out(1, SIGINFO)),
    "uname": (_out(0, UTSNAME_SHOWN),), "sysinfo": (_out(0, SYSINFO),),
    "futex": (Capture(3, Kind.TIMEOUT, 1),),
    "clone3": (_in(0, CLONE_ARGS), Capture(1, Kind.PIDFD)),
    "getdents64": (Capture(1, Kind.DIRENTS),), "getdents": (Capture(1, Kind.DIRENTS),),
    "rt_sigreturn": (Capture(0, Kind.SIGFRAME, SIGSET),),
}  # fmt: skip


# What `--no-buffers` leaves out: data and command lines can hold secrets
# (a token written to a socket, a password passed as an argument).
SECRET_KINDS = (Kind.BUF_IN, Kind.BUF_OUT, Kind.ARGV, Kind.IOV_IN, Kind.IOV_OUT)
# Message headers stay, without the bytes of their iovecs (len_arg 0).
_MSG_KINDS = (Kind.MSG_IN, Kind.MSG_OUT)


def _epoll_padded(c: Capture) -> Capture:
    """An epoll_event capture at the padded size: only x86_64 packs the struct."""
    if c.kind == Kind.ARRAY:
        return Capture(c.arg, c.kind, EPOLL_EVENT_PADDED << 3 | c.len_arg & 7, c.secret)
    return Capture(c.arg, c.kind, EPOLL_EVENT_PADDED, c.secret)


_EPOLL = frozenset({"epoll_wait", "epoll_pwait", "epoll_ctl"})  # the event is their first capture


# With classic tracepoints sys_enter cannot afford the kinds read at enter
# from several arguments (the verifier's complexity limit): what is left.
CLASSIC: dict[str, tuple[Capture, ...]] = {
    "ppoll": (_array(0, POLLFD, 1), _in(2, TIMESPEC)),
    "select": (Capture(1, Kind.FDSETS_OUT),),
    "pselect6": (Capture(1, Kind.FDSETS_OUT, 5),),
}


def captures_for(
    name: str, buffers: bool = True, arch: str | None = None, raw_tracepoints: bool = True
) -> tuple[Capture, ...]:
    """Captures of a syscall on `arch` (this machine's by default); without
    `buffers`, data buffers, iovecs, socket option values and argv are left out
    (they can hold secrets) while paths, addresses and message headers
    (without their data) stay."""
    caps = TABLE.get(name, ())
    if not raw_tracepoints:
        caps = CLASSIC.get(name, caps)
    if name in _EPOLL and (arch or platform.machine()) != "x86_64":
        caps = (_epoll_padded(caps[0]), *caps[1:])
    if not buffers:
        caps = tuple(
            Capture(c.arg, c.kind, 0) if c.kind in _MSG_KINDS else c
            for c in caps
            if c.kind not in SECRET_KINDS and not c.secret
        )
    return caps


MSGHDR = 56  # struct msghdr's bytes at the start of a MSG_* capture
MSG_NAME = 112  # the most of msg_name a MSG_* capture keeps


def msg_without_data(data: bytes) -> bytes:
    """A MSG_* capture cut to what `--no-buffers` keeps: the header, the name
    and the iovecs' lengths (layout: docs/dump-format.md)."""
    if len(data) < MSGHDR:
        return data
    name, namelen, unread = struct.unpack_from("<QII", data)
    at = MSGHDR
    if name and namelen and not unread:
        at += (min(namelen, MSG_NAME) + 7) & ~7
    return data[: at + IOV_N * 8]


def secret_args(names: Mapping[int, str]) -> frozenset[tuple[int, int]]:
    """(nr, argument) pairs whose captures are data whatever their kind (a
    socket option's value)."""
    return frozenset(
        (nr, c.arg) for nr, name in names.items() for c in TABLE.get(name, ()) if c.secret
    )


def to_wire(names: dict[int, str], buffers: bool = True) -> dict[int, list[list[int]]]:
    """nr -> [[arg, kind, len_arg], ...] for the syscalls that capture anything."""
    out = {}
    for nr, name in names.items():
        caps = captures_for(name, buffers)
        if caps:
            out[nr] = [[c.arg, int(c.kind), c.len_arg] for c in caps]
    return out
