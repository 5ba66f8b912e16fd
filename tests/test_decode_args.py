"""Arguments and return values decoded by type and by syscall, strace's way.

Registers are unsigned 64-bit: these tests feed them as the kernel hands them
over (e.g. AT_FDCWD as 0xffffff9c from a 32-bit int, or sign-extended to 64).
"""

from __future__ import annotations

from typing import Any

from sidecar.render import flags as F
from sidecar.render.calls import Call, build
from sidecar.render.ioctls import request
from sidecar.render.signals import signal_name
from sidecar.render.values import dirfd, octal, ptr, s32, s64, u32, u64

OPENAT = [("dfd", "int"), ("filename", "const char *"), ("flags", "int"), ("mode", "umode_t")]
M64 = 2**64


def strace(call: Call, args: list[int], ret: int | None = 0, caps: list[Any] | None = None) -> str:
    a = (args + [0] * 6)[:6]
    s = f"{call.name}({call.strace_args(a, caps or [], ret, 32)})"
    return s if ret is None else f"{s} = {call.ret_text(ret, a)}"


def test_integers_by_c_type() -> None:
    assert s32(0xFFFFFFFF) == "-1"
    assert s32(M64 - 1) == "-1"  # sign-extended register
    assert u32(0xFFFFFFFF) == "4294967295"
    assert s64(M64 - 5) == "-5"
    assert u64(M64 - 1) == str(M64 - 1)
    assert ptr(0) == "NULL" and ptr(0x7FFD1000) == "0x7ffd1000"
    assert octal(0, ()) == "000" and octal(0o644, ()) == "0644" and octal(0o4755, ()) == "04755"


def test_at_fdcwd_in_both_register_forms() -> None:
    assert dirfd(0xFFFFFF9C) == "AT_FDCWD"
    assert dirfd(M64 - 100) == "AT_FDCWD"
    assert dirfd(3) == "3"


def test_open_flags_and_mode() -> None:
    call = Call("openat", OPENAT)
    path = [[1, 1, b"/etc/ld.so.cache", 16]]
    assert strace(call, [0xFFFFFF9C, 0x1000, 0o2000000, 0], 3, path) == (
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3'
    )
    # the mode shows only when the call can create (strace does the same)
    assert strace(call, [0xFFFFFF9C, 0x1000, 0o1101, 0o640], 3, path) == (
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_WRONLY|O_CREAT|O_TRUNC, 0640) = 3'
    )
    # unknown bits in hex next to the names
    assert strace(call, [3, 0x1000, 0x40000000 | 2, 0], -2) == (
        "openat(3, 0x1000, O_RDWR|0x40000000) = -1 ENOENT (No such file or directory)"
    )


def test_open_flags_differ_on_arm64() -> None:
    x86 = F.open_flags(F.open_table("x86_64"))
    arm = F.open_flags(F.open_table("aarch64"))
    assert x86(0o200000, ()) == "O_RDONLY|O_DIRECTORY"
    assert arm(0o40000, ()) == "O_RDONLY|O_DIRECTORY"
    assert arm(0o200000, ()) == "O_RDONLY|O_DIRECT"


def test_memory_calls() -> None:
    mmap = Call(
        "mmap", [(n, "unsigned long") for n in ("addr", "len", "prot", "flags", "fd", "off")]
    )
    assert strace(mmap, [0, 8192, 3, 0x22, 0xFFFFFFFF, 0], 0x7F8A93726000) == (
        "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f8a93726000"
    )
    assert strace(mmap, [0x10000, 4096, 0, 0x112, 3, 0x1000], -12) == (
        "mmap(0x10000, 4096, PROT_NONE, MAP_PRIVATE|MAP_FIXED|MAP_GROWSDOWN, 3, 0x1000)"
        " = -1 ENOMEM (Cannot allocate memory)"
    )
    huge = F.mmap_flags(F.map_table("x86_64"))
    assert (
        huge(0x40022 | (21 << 26), ()) == "MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|21<<MAP_HUGE_SHIFT"
    )
    brk = Call("brk", [("brk", "unsigned long")])
    assert strace(brk, [0], 0x55F5D9F87000) == "brk(NULL) = 0x55f5d9f87000"


def test_access_socket_clone_signals() -> None:
    access = Call("access", [("filename", "const char *"), ("mode", "int")])
    assert strace(access, [0x10, 6]).endswith(", R_OK|W_OK) = 0")
    assert strace(access, [0x10, 0]).endswith(", F_OK) = 0")
    sock = Call("socket", [("family", "int"), ("type", "int"), ("protocol", "int")])
    assert strace(sock, [2, 1 | 0o2000000 | 0o4000, 0], 3) == (
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 3"
    )
    assert strace(sock, [16, 3, 0], 4) == "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) = 4"
    assert strace(sock, [17, 3, 0x300], 5) == "socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)) = 5"
    assert F.clone_flags(0x1200011, ()) == "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
    assert signal_name(11) == "SIGSEGV" and signal_name(34) == "SIGRT_2"
    assert signal_name(32) == "SIGRTMIN" and signal_name(0) == "0"
    kill = Call("kill", [("pid", "pid_t"), ("sig", "int")])
    assert strace(kill, [M64 - 99999, 10], -3) == (
        "kill(-99999, SIGUSR1) = -1 ESRCH (No such process)"
    )


def test_clone_like_strace() -> None:
    params = [("clone_flags", "unsigned long"), ("newsp", "unsigned long"),
              ("parent_tidptr", "int *"), ("child_tidptr", "int *"), ("tls", "unsigned long")]  # fmt: skip
    clone = Call("clone", params)
    assert strace(clone, [0x1200011, 0, 0, 0x28446650, 0], 5357) == (
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        "child_tidptr=0x28446650) = 5357"
    )


def test_fcntl_and_ioctl() -> None:
    fcntl = Call(
        "fcntl", [("fd", "unsigned int"), ("cmd", "unsigned int"), ("arg", "unsigned long")]
    )
    assert strace(fcntl, [3, 2, 1]) == "fcntl(3, F_SETFD, FD_CLOEXEC) = 0"
    assert (
        strace(fcntl, [3, 4, 0o4000 | 0o2000])
        == "fcntl(3, F_SETFL, O_RDONLY|O_APPEND|O_NONBLOCK) = 0"
    )
    assert strace(fcntl, [3, 1, 77], 1) == "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"
    assert (
        strace(fcntl, [1, 3, 0], 0x8001)
        == "fcntl(1, F_GETFL) = 0x8001 (flags O_WRONLY|O_LARGEFILE)"
    )
    assert strace(fcntl, [3, 0x40, 0], -22).startswith("fcntl(3, 0x40 /* F_??? */, 0) = -1 EINVAL")
    ioctl = Call(
        "ioctl", [("fd", "unsigned int"), ("cmd", "unsigned int"), ("arg", "unsigned long")]
    )
    assert strace(ioctl, [1, 0x5401, 0x7FFC0000], -25) == (
        "ioctl(1, TCGETS, 0x7ffc0000) = -1 ENOTTY (Inappropriate ioctl for device)"
    )
    assert strace(ioctl, [3, 0x541B, 0]) == "ioctl(3, FIONREAD, NULL) = 0"
    assert request(0xC0186201, ()) == "_IOC(_IOC_READ|_IOC_WRITE, 0x62, 0x1, 0x18)"
    assert request(0x1234, ()) == "_IOC(_IOC_NONE, 0x12, 0x34, 0)"


def test_futex_shows_what_strace_shows() -> None:
    futex = Call("futex", [("uaddr", "u32 *"), ("op", "int"), ("val", "u32"),
                           ("utime", "const struct __kernel_timespec *"), ("uaddr2", "u32 *"),
                           ("val3", "u32")])  # fmt: skip
    assert strace(futex, [0x1000, 0x81, 0x7FFFFFFF], 0) == (
        "futex(0x1000, FUTEX_WAKE_PRIVATE, 2147483647) = 0"
    )
    assert strace(futex, [0x1000, 0x189, 1, 0, 0, 0xFFFFFFFF], -110) == (
        "futex(0x1000, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 1, NULL, "
        "FUTEX_BITSET_MATCH_ANY) = -1 ETIMEDOUT (Connection timed out)"
    )


def test_returns() -> None:
    exit_group = Call("exit_group", [("error_code", "int")])
    assert exit_group.noreturn and exit_group.table_x
    assert Call("rt_sigreturn", []).table_x
    read = Call("read", [("fd", "unsigned int"), ("buf", "char *"), ("count", "size_t")],
                captures=[[1, 3, 255]])  # fmt: skip
    # a read that returned 0 filled nothing: strace shows the empty buffer
    assert strace(read, [3, 0x1000, 4096], 0) == 'read(3, "", 4096) = 0'
    assert strace(read, [3, 0x1000, 4096], -9) == (
        "read(3, 0x1000, 4096) = -1 EBADF (Bad file descriptor)"
    )
    assert strace(read, [3, 0x1000, 4096], -512).endswith(
        "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)"
    )
    umask = Call("umask", [("mask", "int")])
    assert strace(umask, [0o22], 0o22) == "umask(022) = 022"


def test_unknown_numbers_and_missing_formats() -> None:
    unknown = Call.unknown(451)
    assert strace(unknown, [1, 0, 0x10, 0, 0, 0], -38) == (
        "syscall_451(0x1, 0, 0x10, 0, 0, 0) = -1 ENOSYS (Function not implemented)"
    )
    # tracefs has no `stat` format on x86_64 (it is newstat): known anyway
    stat = Call("stat", [], captures=[[0, 1, 255]])
    assert strace(stat, [0x10, 0x20], -2, [[0, 1, b"/x", 2]]) == (
        'stat("/x", 0x20) = -1 ENOENT (No such file or directory)'
    )


def test_json_values_keep_numbers_as_numbers() -> None:
    call = Call("openat", OPENAT)
    args, cut = call.json_args([M64 - 100, 0x1000, 0o2000000, 0, 0, 0],
                               [[1, 1, b"/etc/x", 300]], 3, None)  # fmt: skip
    assert args == {"dfd": "AT_FDCWD", "filename": "/etc/x", "flags": "O_RDONLY|O_CLOEXEC",
                    "mode": "000"}  # fmt: skip
    assert cut == ["filename"]
    write = Call("write", [("fd", "unsigned int"), ("buf", "const char *"), ("count", "size_t")])
    args, cut = write.json_args([M64 - 1, 0x10, 5, 0, 0, 0], [[1, 2, b"hello", 5]], 5, None)
    assert args == {"fd": -1, "buf": "hello", "count": 5} and cut == []
    args, cut = write.json_args([1, 0x10, 5, 0, 0, 0], [[1, 2, b"hello", 5]], 5, 2)
    assert args["buf"] == "he" and cut == ["buf"]


def test_build_from_a_header_ignores_junk() -> None:
    header = {
        "host": {"arch": "x86_64"},
        "syscalls": {0: ["read", [["fd", "unsigned int"]]], "x": ["bad", []], 1: "junk",
                     2: ["open", [["filename", "const char *"], 7]]},
        "captures": {2: [[0, 1, 255], ["junk"]]},
    }  # fmt: skip
    calls = build(header)
    assert sorted(calls) == [0, 2]
    assert calls[2].params == ("filename",)
    assert build({"syscalls": "nope"}) == {}


def test_inlined_formatters_equal_their_functions() -> None:
    from sidecar.render.calls import INLINE

    values = [0, 1, 5, 2**31 - 1, 2**31, 2**32 - 100, 2**32 - 1, 2**32 + 7, 2**63, M64 - 1,
              -1, -100, -(2**63)]  # fmt: skip
    for f, expr in INLINE.items():
        for v in values:
            assert eval(expr.format(a="v")) == f(v, ()), (f, v)
