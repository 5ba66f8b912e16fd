"""Per-syscall decoders, built once per dump from the dump's own syscall table.

The dump's header names every syscall number and its parameters (names and C
types from the recording node's tracefs), so decoding keys on *names*: a dump
from another kernel or architecture (where numbers and even argument orders
differ, e.g. clone's) decodes correctly. For each parameter the formatter is
chosen once, from the most specific rule that matches:

1. SPECS: this syscall's parameter (open's `flags` -> O_RDONLY|O_CLOEXEC);
2. the parameter's name (`dfd` -> AT_FDCWD, `*fd` -> signed int);
3. its C type (pointers in hex, `int` as signed 32-bit, `size_t` unsigned...).

Captured memory (paths, buffers, sockaddrs, objects such as a stat or a wait
status: sidecar/render/structs.py) replaces the raw pointer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sidecar.dump.captures import ARGV_N, Kind
from sidecar.render import flags as F
from sidecar.render.errnos import strace_error
from sidecar.render.ioctls import ioctl_arg, ioctl_shown, request
from sidecar.render.sockaddr import sockaddr, sockaddr_json
from sidecar.render.strings import argv_strings, path_text, quote, quote_argv, quote_path, text
from sidecar.render.structs import decoders
from sidecar.render.values import (
    MASK32,
    MASK64,
    Fmt,
    bitflags,
    dirfd,
    enum,
    enum_or_int,
    js32,
    js64,
    json_fmt,
    ju32,
    ju64,
    octal,
    ptr,
    s32,
    s64,
    u32,
    u64,
    xint,
    xlong,
)

# Plain ints: compared in the per-record loop, where IntEnum comparisons cost.
STR, BUF_IN, BUF_OUT = int(Kind.STR), int(Kind.BUF_IN), int(Kind.BUF_OUT)
SA_IN, SA_OUT = int(Kind.SA_IN), int(Kind.SA_OUT)
OBJ_IN, OBJ_OUT, ARGV = int(Kind.OBJ_IN), int(Kind.OBJ_OUT), int(Kind.ARGV)

NORETURN = frozenset({"exit", "exit_group"})  # strace: `= ?`
TABLE_X = frozenset({"exit", "exit_group", "rt_sigreturn"})  # traceloop's RET column: X

RetFmt = Callable[[int, Sequence[int]], str]
Shown = Callable[[Sequence[int]], Sequence[int] | None]


class Ctx(NamedTuple):
    """A formatter that needs another argument's value: fn(value, other)."""

    fn: Callable[[int, int], str]
    other: str


# --- formatters that depend on another argument -------------------------------

_FCNTL_NOARG = frozenset({1, 3, 9, 11, 1025, 1032, 1034, 1035, 1037})  # the F_GET* commands
_FCNTL_INT = frozenset({0, 8, 10, 1030, 1031})  # F_DUPFD, F_SETOWN, F_SETSIG, ...
_fd_flags = bitflags(F.FD_FLAGS)
_leases = enum(F.LEASES, "F_")
_seals = bitflags(F.SEALS)
_dnotify = bitflags(F.DNOTIFY)


def _fcntl_arg(open_flags: Fmt) -> Callable[[int, int], str]:
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


def _fcntl_ret(open_flags: Fmt) -> Callable[[int, int], str]:
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


def _futex_utime(v: int, op: int) -> str:
    # REQUEUE-style operations pass a count (val2) where WAIT passes a timeout.
    return u32(v) if op & 0x7F in (3, 4, 5, 12) else ptr(v)


def _futex_val3(v: int, op: int) -> str:
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


SHOWN: dict[str, Callable[[Mapping[str, int]], Shown | None]] = {
    "open": _shown_open, "openat": _shown_open, "fcntl": _shown_fcntl, "futex": _shown_futex,
    "ioctl": _shown_ioctl, "clone": _shown_clone, "mknod": _shown_mknod,
    "mknodat": _shown_mknod,
}  # fmt: skip

# strace names clone's arguments in its output.
LABELS: dict[str, dict[str, str]] = {
    "clone": {"newsp": "child_stack=", "clone_flags": "flags=", "parent_tidptr": "parent_tid=",
              "child_tidptr": "child_tidptr=", "tls": "tls="},
}  # fmt: skip


# --- the tables --------------------------------------------------------------

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
        "fcntl": {"cmd": enum(F.FCNTL, "F_"), "arg": Ctx(_fcntl_arg(of), "cmd")},
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
            "utime": Ctx(_futex_utime, "op"),
            "uaddr2": ptr,
            "val3": Ctx(_futex_val3, "op"),
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


def _hex_ret(ret: int, a: Sequence[int]) -> str:
    return hex(ret & MASK64)


def _octal_ret(ret: int, a: Sequence[int]) -> str:
    return octal(ret, a)


def _plain_ret(ret: int, a: Sequence[int]) -> str:
    return str(ret)


RETS: dict[str, RetFmt] = {
    "mmap": _hex_ret, "mremap": _hex_ret, "brk": _hex_ret, "shmat": _hex_ret,
    "umask": _octal_ret,
}  # fmt: skip

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


# Addresses repeat (a service talks to the same few peers) and decoding one
# (ipaddress) is slow: remember up to a few thousand of each form.
_SA_CACHE: dict[bytes, str] = {}
_SA_JSON_CACHE: dict[bytes, dict[str, Any]] = {}


def _sockaddr(data: bytes) -> str:
    s = _SA_CACHE.get(data)
    if s is None:
        s = sockaddr(data)
        if len(_SA_CACHE) < 4096:
            _SA_CACHE[data] = s
    return s


def _sockaddr_json(data: bytes) -> dict[str, Any]:
    """A shared object per address: only ever read (serialised), never changed."""
    d = _SA_JSON_CACHE.get(data)
    if d is None:
        d = sockaddr_json(data)
        if len(_SA_JSON_CACHE) < 4096:
            _SA_JSON_CACHE[data] = d
    return d


class Call:
    """How to show one syscall number of one dump."""

    __slots__ = ("eqs", "fmts", "jargs", "jfmts", "labels", "name", "noreturn", "objs",
                 "out_bufs", "params", "plain_strace", "plain_table", "ret_fmt", "shown",
                 "table_x", "tmpl", "vals")  # fmt: skip

    def __init__(
        self,
        name: str,
        params: Sequence[tuple[str, str]],
        arch: str = "x86_64",
        captures: Sequence[Sequence[int]] = (),
    ) -> None:
        if not params and name in FALLBACK_PARAMS:
            params = FALLBACK_PARAMS[name]
        params = list(params)[:6]
        # A captured argument the table has no parameter for still gets a slot.
        for cap in captures:
            while cap and 0 <= cap[0] < 6 and len(params) <= cap[0]:
                params.append((f"arg{len(params)}", "unsigned long"))
        self.name = name
        self.params = tuple(p[0] for p in params)
        self.eqs = tuple(p + "=" for p in self.params)  # the table's `name=` prefixes
        # ...and all of them at once: `fd=%s, buf=%s, count=%s`
        self.tmpl = ", ".join(e.replace("%", "%%") + "%s" for e in self.eqs)
        ix = {p: i for i, p in enumerate(self.params)}
        spec = specs(arch).get(name, {})
        fmts: list[Fmt] = []
        for pname, ctype in params:
            f = spec.get(pname)
            if isinstance(f, Ctx):
                fmts.append(_bind(f, ix, ctype))
            else:
                fmts.append(f or by_name(pname, ctype) or by_type(ctype))
        # One formatter per parameter, in order, then written out per form.
        self.fmts = tuple(fmts)
        self.jfmts = tuple(json_fmt(f) for f in fmts)
        self.vals: Callable[[Sequence[int]], list[str]] = _unrolled(self.fmts)
        self.jargs: Callable[[Sequence[int]], dict[str, Any]] = _unrolled(self.jfmts, self.params)
        make_shown = SHOWN.get(name)
        self.shown = make_shown(ix) if make_shown else None
        labels = LABELS.get(name)
        self.labels = tuple(labels.get(p, "") for p in self.params) if labels else None
        self.ret_fmt = _ret_fmt(name, ix, arch)
        self.noreturn = name in NORETURN
        self.table_x = name in TABLE_X
        self.objs = decoders(name, arch)
        self.out_bufs = tuple(c[0] for c in captures if len(c) > 1 and c[1] == BUF_OUT
                              and 0 <= c[0] < len(self.params))  # fmt: skip
        # A call that captured nothing and shows all its arguments (most of
        # them) renders in one generated expression, no list in between.
        self.plain_strace: Callable[[Sequence[int]], str] | None = None
        self.plain_table: Callable[[Sequence[int]], str] | None = None
        if self.shown is None and not self.out_bufs:
            if not self.labels:
                self.plain_strace = _unrolled(self.fmts, template=", ".join(["%s"] * len(fmts)))
            self.plain_table = _unrolled(self.fmts, template=self.tmpl)

    @classmethod
    def unknown(cls, nr: int) -> Call:
        return cls(f"syscall_{nr}", [(f"arg{i}", RAW) for i in range(6)])

    def texts(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> list[str]:
        """Every parameter as strace writes it, captures decoded."""
        vals = self.vals(a)
        if ret == 0 and self.out_bufs:
            for i in self.out_bufs:
                vals[i] = '""'  # a read of nothing: strace shows the empty buffer
        if caps:
            n = len(vals)
            for arg, kind, data, full in caps:
                if 0 <= arg < n:
                    if kind == STR:
                        vals[arg] = quote_path(data, full)
                    elif kind in (BUF_IN, BUF_OUT):
                        vals[arg] = quote(data, full, limit)
                    elif kind in (SA_IN, SA_OUT):
                        vals[arg] = _sockaddr(data)
                    elif kind in (OBJ_IN, OBJ_OUT) and arg in self.objs:
                        obj = self.objs[arg](data, a, ret)
                        if obj is not None:
                            vals[arg] = obj[0]
                    elif kind == ARGV:
                        vals[arg] = quote_argv(data, full, ARGV_N, limit)
        return vals

    def strace_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> str:
        if not caps and self.plain_strace is not None:
            return self.plain_strace(a)
        vals = self.texts(a, caps, ret, limit)
        idx = self.shown(a) if self.shown else None
        if self.labels:
            lab = self.labels
            return ", ".join([lab[i] + vals[i] for i in (idx or range(len(vals)))])
        if idx is None:
            return ", ".join(vals)
        return ", ".join([vals[i] for i in idx])

    def table_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> str:
        if not caps and self.plain_table is not None:
            return self.plain_table(a)
        vals = self.texts(a, caps, ret, limit)
        idx = self.shown(a) if self.shown else None
        if idx is None:
            return self.tmpl % tuple(vals)
        eqs = self.eqs
        return ", ".join([eqs[i] + vals[i] for i in idx])

    def json_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> tuple[dict[str, Any], list[str]]:
        """Parameter name -> value, and the names whose captured data is cut."""
        out: dict[str, Any] = self.jargs(a)
        cut: list[str] = []
        if not caps and not self.out_bufs:
            return out, cut
        p = self.params
        if ret == 0 and self.out_bufs:
            for i in self.out_bufs:
                out[p[i]] = ""
        n = len(p)
        for arg, kind, data, full in caps:
            if 0 <= arg < n:
                if kind == STR:
                    out[p[arg]] = path_text(data)
                elif kind in (BUF_IN, BUF_OUT):
                    if limit is not None and len(data) > limit:
                        data = data[:limit]
                    out[p[arg]] = text(data)
                elif kind in (SA_IN, SA_OUT):
                    out[p[arg]] = _sockaddr_json(data)
                    continue
                elif kind in (OBJ_IN, OBJ_OUT) and arg in self.objs:
                    obj = self.objs[arg](data, a, ret)
                    if obj is not None:
                        out[p[arg]] = obj[1]
                    continue
                elif kind == ARGV:
                    strings, missing = argv_strings(data, full, ARGV_N)
                    out[p[arg]] = [text(x[:limit] if limit is not None else x) for x in strings]
                    if missing or (limit is not None and any(len(x) > limit for x in strings)):
                        cut.append(p[arg])
                    continue
                else:
                    continue
                if full > len(data):
                    cut.append(p[arg])
        return out, cut

    def ret_text(self, ret: int, a: Sequence[int]) -> str:
        """A return value as strace shows it after `= ` (errors with errno name and text)."""
        if -4095 <= ret < 0:
            return strace_error(-ret)
        return self.ret_fmt(ret, a)


# The simplest formatters written into the unrolled code as expressions (no
# call at all); `{a}` is the argument's register. Each equals its function:
# tests/test_decode_args.py holds them to it.
_S32 = "((({a}) & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000"
_S64 = "((({a}) & 0xFFFFFFFFFFFFFFFF) ^ 0x8000000000000000) - 0x8000000000000000"
_U64 = "(({a}) & 0xFFFFFFFFFFFFFFFF)"
_PTR = '(hex({a} & 0xFFFFFFFFFFFFFFFF) if {a} & 0xFFFFFFFFFFFFFFFF else "NULL")'
INLINE: dict[Callable[..., Any], str] = {
    js32: _S32, s32: f"str({_S32})", js64: _S64, s64: f"str({_S64})",
    ju32: "(({a}) & 0xFFFFFFFF)", u32: "str(({a}) & 0xFFFFFFFF)", ju64: _U64, u64: f"str({_U64})",
    ptr: _PTR,
}  # fmt: skip


def _unrolled(
    fmts: Sequence[Callable[[int, Sequence[int]], Any]],
    keys: Sequence[str] | None = None,
    template: str | None = None,
) -> Any:
    """`lambda a: [f0(a[0], a), f1(a[1], a), ...]` (or a dict keyed by `keys`).

    This runs for every record, and written out it takes half the time of a
    loop over zip(). Built with exec like dataclasses' methods; the source holds
    only generated names, the fixed expressions above and repr()s of parameter
    names, never raw header text.
    """
    exprs = []
    for i, f in enumerate(fmts):
        inline = INLINE.get(f)
        exprs.append(inline.format(a=f"a[{i}]") if inline else f"f{i}(a[{i}], a)")
    if template is not None:  # the whole text at once: `fd=%s, count=%s` % (...)
        body = f"{template!r} % (" + "".join(e + ", " for e in exprs) + ")"
    elif keys is not None:
        body = "{" + ", ".join(f"{k!r}: {e}" for k, e in zip(keys, exprs, strict=True)) + "}"
    else:
        body = "[" + ", ".join(exprs) + "]"
    ns: dict[str, Any] = {f"f{i}": f for i, f in enumerate(fmts)}
    exec(f"def unrolled(a):\n    return {body}\n", ns)
    return ns["unrolled"]


def _bind(ctx: Ctx, ix: Mapping[str, int], ctype: str) -> Fmt:
    oi = ix.get(ctx.other)
    if oi is None:  # the table lacks the other parameter: fall back to the type
        return by_type(ctype)
    fn = ctx.fn
    o = oi

    def fmt(v: int, a: Sequence[int]) -> str:
        return fn(v, a[o])

    return fmt


def _ret_fmt(name: str, ix: Mapping[str, int], arch: str) -> RetFmt:
    if name == "fcntl" and "cmd" in ix:
        fn = _fcntl_ret(F.open_flags(F.open_table(arch)))
        ci = ix["cmd"]
        return lambda ret, a: fn(ret, a[ci])
    return RETS.get(name, _plain_ret)


Wire = tuple[str, list[tuple[str, str]], list[list[int]]]


def parse(header: Mapping[str, Any]) -> tuple[str, dict[int, Wire]]:
    """The architecture and, per syscall number, (name, parameters, captures)
    from a dump's header; entries of the wrong shape are left out."""
    host = header.get("host")
    arch = str(host.get("arch", "")) if isinstance(host, dict) else ""
    wire = header.get("syscalls")
    caps_wire = header.get("captures")
    out: dict[int, Wire] = {}
    if not isinstance(wire, dict):
        return arch, out
    caps_by_nr = caps_wire if isinstance(caps_wire, dict) else {}
    for nr, entry in wire.items():
        if not isinstance(nr, int) or not isinstance(entry, list | tuple) or len(entry) != 2:
            continue
        name, params = entry
        if not isinstance(name, str) or not isinstance(params, list | tuple):
            continue
        ps = [(str(p[0]), str(p[1])) for p in params if isinstance(p, list | tuple) and len(p) == 2]
        caps = caps_by_nr.get(nr)
        caps = [c for c in caps if _int_list(c)] if isinstance(caps, list) else []
        out[nr] = (name, ps, caps)
    return arch, out


def build(header: Mapping[str, Any]) -> dict[int, Call]:
    """Decoders for every syscall number in a dump's header."""
    arch, wire = parse(header)
    return {nr: Call(name, ps, arch, caps) for nr, (name, ps, caps) in wire.items()}


def _int_list(c: object) -> bool:
    return isinstance(c, list | tuple) and all(isinstance(x, int) for x in c)
