"""Arrays, iovecs and message headers (capture kinds 9-13) and the objects
added beside them, decoded from hand-built bytes laid out as the kernel side
stores them (sidecar/kernel/bpf/captures_more.h). The expected texts are
strace 6.1's for the same calls (tests/test_decode_strace.py compares whole
lines of a real run with strace itself)."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from showutil import fixture, make_dump, show

from sidecar.dump.captures import (
    IOV_N,
    RET,
    TABLE,
    Capture,
    Kind,
    captures_for,
    secret_args,
    to_wire,
)
from sidecar.dump.schema import record_ok
from sidecar.render.calls import Call, envp_vars

POLL = [("ufds", "struct pollfd *"), ("nfds", "unsigned int"), ("timeout_msecs", "int")]
VEC = [("fd", "unsigned long"), ("vec", "const struct iovec *"), ("vlen", "unsigned long")]
MSG = [("fd", "int"), ("msg", "struct user_msghdr *"), ("flags", "unsigned int")]
EPW = [("epfd", "int"), ("events", "struct epoll_event *"), ("maxevents", "int"),
       ("timeout", "int")]  # fmt: skip
SOCKOPT = [("fd", "int"), ("level", "int"), ("optname", "int"), ("optval", "char *"),
           ("optlen", "int *")]  # fmt: skip
SIGWAIT = [("uthese", "const sigset_t *"), ("uinfo", "siginfo_t *"),
           ("uts", "const struct __kernel_timespec *"), ("sigsetsize", "size_t")]  # fmt: skip


def call(name: str, params: list[tuple[str, str]]) -> Call:
    wire = [[c.arg, int(c.kind), c.len_arg] for c in TABLE[name]]
    return Call(name, params, "x86_64", wire)


def cap(c: Capture, data: bytes, full: int) -> list[Any]:
    return [c.arg, int(c.kind), data, full]


def pollfds(*fds: tuple[int, int, int]) -> bytes:
    return b"".join(struct.pack("<ihh", *f) for f in fds)


def iov(lens: list[int], data: bytes) -> bytes:
    """The capture of K_IOV_*: IOV_N lengths (unused ones 0), then the bytes."""
    return struct.pack(f"<{IOV_N}Q", *lens, *[0] * (IOV_N - len(lens))) + data


def line(c: Call, a: tuple[int, ...], caps: list[list[Any]], ret: int) -> str:
    return f"{c.name}({c.strace_args(a, caps, ret, 32)}) = {c.ret_text(ret, a, caps)}"


# --- poll ------------------------------------------------------------------------


def test_poll_shows_fds_and_events_and_revents_after_the_return_value() -> None:
    c = call("poll", POLL)
    data = pollfds((3, 1, 1), (4, 5, 4), (-1, 1, 0))
    caps = [cap(TABLE["poll"][0], data, 24)]
    assert line(c, (0x7FFD0000, 3, 0, 0, 0, 0), caps, 2) == (
        "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLIN|POLLOUT}, {fd=-1}], 3, 0) = "
        "2 ([{fd=3, revents=POLLIN}, {fd=4, revents=POLLOUT}])"
    )
    args, cut = c.json_args((0x7FFD0000, 3, 0, 0, 0, 0), caps, 2, None)
    assert args["ufds"][1] == {"fd": 4, "events": "POLLIN|POLLOUT", "revents": "POLLOUT"}
    assert cut == []


def test_poll_timeout_and_failure() -> None:
    c = call("poll", POLL)
    a = (0x7FFD0000, 1, 0, 0, 0, 0)
    caps = [cap(TABLE["poll"][0], pollfds((3, 1, 0)), 8)]
    assert c.ret_text(0, a, caps) == "0 (Timeout)"
    assert c.ret_text(0, a, []) == "0 (Timeout)"  # known without the fds too
    assert c.ret_text(0, a) == "0"  # the table's RET column: the value only
    # A failed poll still shows what it was given, and nothing after the error.
    assert line(c, a, caps, -4) == (
        "poll([{fd=3, events=POLLIN}], 1, 0) = -1 EINTR (Interrupted system call)"
    )


def test_poll_with_more_fds_than_captured_ends_in_dots() -> None:
    c = call("poll", POLL)
    a = (0x7FFD0000, 20, 0, 0, 0, 0)
    data = pollfds(*[(i, 1, 1 if i == 2 else 0) for i in range(16)])
    caps = [cap(TABLE["poll"][0], data, 160)]
    text = line(c, a, caps, 1)
    assert text.startswith("poll([{fd=0, events=POLLIN}, ") and ", ...], 20, 0) = 1" in text
    assert text.endswith("= 1 ([{fd=2, revents=POLLIN}, ...])")
    assert c.json_args(a, caps, 1, None)[1] == ["ufds"]


# --- iovecs ------------------------------------------------------------------------


def test_writev_shows_every_iovec_with_its_data() -> None:
    c = call("writev", VEC)
    data = iov([5, 6, 0], b"hello world")
    caps = [cap(TABLE["writev"][0], data, 3)]
    assert line(c, (4, 0x7FFD0000, 3, 0, 0, 0), caps, 11) == (
        'writev(4, [{iov_base="hello", iov_len=5}, {iov_base=" world", iov_len=6}, '
        '{iov_base="", iov_len=0}], 3) = 11'
    )


def test_readv_shows_data_up_to_the_return_value() -> None:
    c = call("readv", VEC)
    data = iov([3, 20], b"hello world")
    caps = [cap(TABLE["readv"][0], data, 2)]
    a = (3, 0x7FFD0000, 2, 0, 0, 0)
    assert c.strace_args(a, caps, 11, 32) == (
        '3, [{iov_base="hel", iov_len=3}, {iov_base="lo world", iov_len=20}], 2'
    )
    args, cut = c.json_args(a, caps, 11, None)
    assert args["vec"] == [{"iov_base": "hel", "iov_len": 3},
                           {"iov_base": "lo world", "iov_len": 20}]  # fmt: skip
    assert cut == []


def test_iovec_data_cut_by_the_recorder_or_the_limit_ends_in_dots() -> None:
    c = call("readv", VEC)
    a = (3, 0x7FFD0000, 1, 0, 0, 0)
    caps = [cap(TABLE["readv"][0], iov([500], b"x" * 128), 1)]
    assert (
        c.strace_args(a, caps, 500, None) == f'3, [{{iov_base="{"x" * 128}"..., iov_len=500}}], 1'
    )
    assert c.strace_args(a, caps, 500, 4) == '3, [{iov_base="xxxx"..., iov_len=500}], 1'
    assert c.json_args(a, caps, 500, None)[1] == ["vec"]


def test_more_iovecs_than_captured_end_in_dots() -> None:
    c = call("writev", VEC)
    n = IOV_N + 2
    caps = [cap(TABLE["writev"][0], iov([1] * IOV_N, b"a" * IOV_N), IOV_N + 1)]
    text = c.strace_args((4, 0x7FFD0000, n, 0, 0, 0), caps, n, 32)
    assert text.count("iov_len=1") == IOV_N and text.endswith(", ...], 10")


def test_iovec_bytes_are_escaped() -> None:
    c = call("writev", VEC)
    caps = [cap(TABLE["writev"][0], iov([4], b"\x1b[2J"), 1)]
    assert c.strace_args((1, 0x7FFD0000, 1, 0, 0, 0), caps, 4, 32) == (
        '1, [{iov_base="\\33[2J", iov_len=4}], 1'
    )


# --- message headers ---------------------------------------------------------------


def msghdr(name: bytes, iovs: list[int], data: bytes, *, controllen: int = 0,
           flags: int = 0, unread: int = 0) -> bytes:  # fmt: skip
    hdr = struct.pack("<QIIQQQQI4x", 0x7FFD1000 if name else 0, len(name), unread,
                      0x7FFD2000 if iovs else 0, len(iovs), 0x7FFD3000 if controllen else 0,
                      controllen, flags)  # fmt: skip
    pad = b"\0" * (-len(name) % 8)
    return hdr + name + pad + iov(iovs, data)


def cmsg(level: int, ctype: int, body: bytes) -> bytes:
    return struct.pack("<QiI", 16 + len(body), level, ctype) + body + b"\0" * (-len(body) % 8)


SIN = struct.pack("<H", 2) + struct.pack(">H", 9) + bytes([127, 0, 0, 1]) + b"\0" * 8


def test_sendmsg_shows_name_iovecs_and_lengths() -> None:
    c = call("sendmsg", MSG)
    caps = [cap(TABLE["sendmsg"][0], msghdr(SIN, [3, 4], b"abcdefg"), 2)]
    assert line(c, (5, 0x7FFD0000, 0, 0, 0, 0), caps, 7) == (
        "sendmsg(5, {msg_name={sa_family=AF_INET, sin_port=htons(9), "
        'sin_addr=inet_addr("127.0.0.1")}, msg_namelen=16, msg_iov=[{iov_base="abc", '
        'iov_len=3}, {iov_base="defg", iov_len=4}], msg_iovlen=2, msg_controllen=0, '
        "msg_flags=0}, 0) = 7"
    )
    args, _ = c.json_args((5, 0x7FFD0000, 0, 0, 0, 0), caps, 7, None)
    assert args["msg"]["msg_name"] == {"family": "AF_INET", "port": 9, "addr": "127.0.0.1"}
    assert args["msg"]["msg_iov"][1] == {"iov_base": "defg", "iov_len": 4}


def test_recvmsg_data_up_to_the_return_value_and_its_failure() -> None:
    c = call("recvmsg", MSG)
    a = (9, 0x7FFD0000, 0, 0, 0, 0)
    caps = [cap(TABLE["recvmsg"][0], msghdr(b"", [16], b"abcdefg", flags=0x20), 1)]
    assert c.strace_args(a, caps, 7, 32) == (
        '9, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="abcdefg", iov_len=16}], '
        "msg_iovlen=1, msg_controllen=0, msg_flags=MSG_TRUNC}, 0"
    )
    # strace shows what a failed recvmsg was given: the name's length.
    caps = [cap(TABLE["recvmsg"][0], msghdr(b"", [16], b""), 1)]
    assert c.strace_args(a, caps, -11, 32) == "9, {msg_namelen=0}, 0"


def test_msghdr_without_data_or_with_control_messages_shows_their_pointers() -> None:
    # --no-buffers: the kernel keeps the header and name but no iovec bytes.
    wire = [[1, int(Kind.MSG_IN), 0]]
    c = Call("sendmsg", MSG, "x86_64", wire)
    caps = [[1, int(Kind.MSG_IN), msghdr(b"", [3], b"", controllen=24), 1]]
    assert c.strace_args((5, 0x7FFD0000, 0, 0, 0, 0), caps, 3, 32) == (
        "5, {msg_name=NULL, msg_namelen=0, msg_iov=0x7ffd2000, msg_iovlen=1, "
        "msg_control=0x7ffd3000, msg_controllen=24, msg_flags=0}, 0"
    )


def test_msghdr_whose_name_could_not_be_read_shows_the_pointer() -> None:
    c = call("sendmsg", MSG)
    data = msghdr(SIN, [1], b"x", unread=1)
    data = data[:56] + data[56 + 16 :]  # the kernel skips the name it could not read
    caps = [cap(TABLE["sendmsg"][0], data, 1)]
    text = c.strace_args((5, 0x7FFD0000, 0, 0, 0, 0), caps, 1, 32)
    assert text.startswith('5, {msg_name=0x7ffd1000, msg_namelen=16, msg_iov=[{iov_base="x"')


# --- epoll ---------------------------------------------------------------------------


def test_epoll_wait_shows_the_events_it_returned() -> None:
    c = call("epoll_wait", EPW)
    a = (6, 0x7FFD0000, 4, 0, 0, 0)
    ev = struct.pack("<IQ", 1, 0x1234)
    caps = [cap(TABLE["epoll_wait"][0], ev, 12)]
    assert line(c, a, caps, 1) == (
        "epoll_wait(6, [{events=EPOLLIN, data={u32=4660, u64=4660}}], 4, 0) = 1"
    )
    assert line(c, a, [cap(TABLE["epoll_wait"][0], b"", 0)], 0) == "epoll_wait(6, [], 4, 0) = 0"
    # arm64's epoll_event is 16 bytes, not decoded: the pointer
    arm = Call("epoll_wait", EPW, "aarch64", [[1, int(Kind.ARRAY), 12 << 3 | RET]])
    assert arm.strace_args(a, caps, 1, 32) == "6, 0x7ffd0000, 4, 0"


# --- socket options, signals ---------------------------------------------------------


def getsockopt_line(level: int, name: int, value: bytes | None, given: int, written: int,
                    ret: int = 0) -> str:  # fmt: skip
    c = call("getsockopt", SOCKOPT)
    a = (3, level, name, 0x7FFD0000, 0x7FFD0010, 0)
    caps = [cap(TABLE["getsockopt"][1], struct.pack("<i", given), 4)]
    if value is not None:
        caps.insert(0, cap(TABLE["getsockopt"][0], value, written))
    return line(c, a, caps, ret)


def test_getsockopt_values_and_lengths_as_strace_shows_them() -> None:
    # Expected lines: strace 6.1's for the same calls (tests/data/calls.c
    # compares a real run in test_decode_strace.py).
    assert getsockopt_line(1, 8, struct.pack("<i", 131072), 4, 4) == (
        "getsockopt(3, SOL_SOCKET, SO_RCVBUF, [131072], [4]) = 0"
    )
    assert getsockopt_line(1, 13, struct.pack("<ii", 1, 5), 12, 8) == (
        "getsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=5}, [12 => 8]) = 0"
    )
    assert getsockopt_line(1, 13, struct.pack("<i", 1), 4, 4) == (
        "getsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1}, [4]) = 0"
    )
    assert getsockopt_line(6, 13, b"cubic" + bytes(11), 32, 16) == (
        'getsockopt(3, SOL_TCP, TCP_CONGESTION, "cubic\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0\\0", '
        "[32 => 16]) = 0"
    )
    assert getsockopt_line(1, 3, b"\1\0", 2, 2) == (
        'getsockopt(3, SOL_SOCKET, SO_TYPE, "\\1\\0", [2]) = 0'
    )
    assert getsockopt_line(1, 17, struct.pack("<3I", 7708, 0, 0), 12, 12) == (
        "getsockopt(3, SOL_SOCKET, SO_PEERCRED, {pid=7708, uid=0, gid=0}, [12]) = 0"
    )
    # A failed call: the pointer, and the length the program gave
    assert getsockopt_line(1, 3, None, 4, 4, -9) == (
        "getsockopt(3, SOL_SOCKET, SO_TYPE, 0x7ffd0000, [4]) = -1 EBADF (Bad file descriptor)"
    )
    c = call("getsockopt", SOCKOPT)
    caps = [cap(TABLE["getsockopt"][0], struct.pack("<ii", 1, 5), 8),
            cap(TABLE["getsockopt"][1], struct.pack("<i", 12), 4)]  # fmt: skip
    js = c.json_args((3, 1, 13, 0x7FFD0000, 0x7FFD0010, 0), caps, 0, None)[0]
    assert js["optval"] == {"l_onoff": 1, "l_linger": 5}
    assert js["optlen"] == [12, 8]


def setsockopt_line(level: int, name: int, value: bytes, length: int) -> str:
    c = call("setsockopt", [*SOCKOPT[:4], ("optlen", "unsigned int")])
    a = (3, level, name, 0x7FFD0000, length, 0)
    return line(c, a, [cap(TABLE["setsockopt"][0], value, length)], 0)


def test_setsockopt_values_as_strace_shows_them() -> None:
    assert setsockopt_line(6, 1, struct.pack("<i", 1), 4) == (
        "setsockopt(3, SOL_TCP, TCP_NODELAY, [1], 4) = 0"
    )
    assert setsockopt_line(1, 13, struct.pack("<ii", 1, 5), 8) == (
        "setsockopt(3, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=5}, 8) = 0"
    )
    assert setsockopt_line(1, 13, b"\1\0\0", 3) == (
        "setsockopt(3, SOL_SOCKET, SO_LINGER, 0x7ffd0000, 3) = 0"
    )
    assert setsockopt_line(6, 13, b"cubic", 5) == (
        'setsockopt(3, SOL_TCP, TCP_CONGESTION, "cubic", 5) = 0'
    )
    assert setsockopt_line(1, 25, b"lo\0", 3) == (
        'setsockopt(3, SOL_SOCKET, SO_BINDTODEVICE, "lo\\0", 3) = 0'
    )
    # an int-like option whatever its length, from 4 bytes on
    assert setsockopt_line(1, 2, struct.pack("<i", 1) + bytes(60), 64) == (
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 64) = 0"
    )
    assert setsockopt_line(1, 2, b"\1\0", 2) == (
        "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 0x7ffd0000, 2) = 0"
    )


def test_rt_sigtimedwait_names_the_signal_it_took() -> None:
    c = call("rt_sigtimedwait", SIGWAIT)
    a = (0x7FFD0000, 0, 0x7FFD0010, 8, 0, 0)
    # The set and the timeout share one capture (kind 17).
    caps = [cap(TABLE["rt_sigtimedwait"][0], struct.pack("<Q", 1 << 9) + bytes(16), 24)]
    assert line(c, a, caps, 10) == (
        "rt_sigtimedwait([USR1], NULL, {tv_sec=0, tv_nsec=0}, 8) = 10 (SIGUSR1)"
    )
    # Dumps made before: two captures of kind 6.
    c = Call("rt_sigtimedwait", SIGWAIT, "x86_64", [[0, 6, 8], [2, 6, 16]])
    caps = [[0, 6, struct.pack("<Q", 1 << 9), 8], [2, 6, bytes(16), 16]]
    assert line(c, a, caps, 10) == (
        "rt_sigtimedwait([USR1], NULL, {tv_sec=0, tv_nsec=0}, 8) = 10 (SIGUSR1)"
    )


def test_rt_sigtimedwait_shows_the_siginfo_it_filled_in() -> None:
    c = call("rt_sigtimedwait", SIGWAIT)
    a = (0x7FFD0000, 0x7FFD0100, 0, 8, 0, 0)
    info = struct.pack("<iiii4Q", 10, 0, 0, 0, 77, 0, 0, 0)  # SIGUSR1 from kill() by pid 77
    caps = [cap(TABLE["rt_sigtimedwait"][0], struct.pack("<Q", 1 << 9), 8),
            cap(TABLE["rt_sigtimedwait"][1], info, 48)]  # fmt: skip
    assert line(c, a, caps, 10) == (
        "rt_sigtimedwait([USR1], {si_signo=SIGUSR1, si_code=SI_USER, si_pid=77, si_uid=0}, "
        "NULL, 8) = 10 (SIGUSR1)"
    )
    args, _cut = c.json_args(a, caps, 10, None)
    assert args["uinfo"] == {"si_signo": "SIGUSR1", "si_code": "SI_USER", "si_pid": 77,
                             "si_uid": 0}  # fmt: skip
    assert args["uthese"] == ["SIGUSR1"] and args["uts"] == "NULL"


# --- the capture table and the schema ------------------------------------------------


def test_no_buffers_leaves_out_data_and_option_values_but_keeps_message_headers() -> None:
    for name in ("readv", "writev", "preadv2", "pwritev", "setsockopt"):
        assert captures_for(name, buffers=False) == (), name
    assert [c.arg for c in captures_for("getsockopt", buffers=False)] == [4]  # the length
    msg, control = captures_for("sendmsg", buffers=False)
    assert control.kind == Kind.CMSG  # fds and credentials are no one's secret
    assert msg.kind == Kind.MSG_IN and msg.len_arg == 0
    assert [c.len_arg for c in captures_for("recvmsg")][:1] == [1]
    assert to_wire({7: "poll"}) == {7: [[0, int(Kind.ARRAY), 8 << 3 | 1]]}


def test_records_with_the_new_kinds_are_read_and_unknown_kinds_refused() -> None:
    def rec(kind: int) -> list[Any]:
        return [1, 2, 3, 0, 10, 10, "x", 7, [0] * 6, 0, [[0, kind, b"", 0]]]

    assert record_ok(rec(int(Kind.MSG_OUT)))
    assert not record_ok(rec(int(max(Kind)) + 1))


# --- objects decoded beside them ------------------------------------------------------


@pytest.fixture
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_utimensat_times_with_strace_date_comment(utc: None) -> None:
    params = [("dfd", "int"), ("filename", "const char *"),
              ("utimes", "struct __kernel_timespec *"), ("flags", "int")]  # fmt: skip
    c = call("utimensat", params)
    times = struct.pack("<qqqq", 1700000000, 5, 0, (1 << 30) - 2)
    caps = [cap(TABLE["utimensat"][0], b"/f", 2), cap(TABLE["utimensat"][1], times, 32)]
    assert c.strace_args((0xFFFFFF9C, 0x1000, 0x2000, 0, 0, 0), caps, 0, 32) == (
        'AT_FDCWD, "/f", [{tv_sec=1700000000, tv_nsec=5} /* 2023-11-14T22:13:20.000000005+0000 */'
        ", UTIME_OMIT], 0"
    )
    now = struct.pack("<qqqq", 0, (1 << 30) - 1, 0, (1 << 30) - 2)
    caps[1] = cap(TABLE["utimensat"][1], now, 32)
    assert c.json_args((0xFFFFFF9C, 0x1000, 0x2000, 0, 0, 0), caps, 0, None)[0]["utimes"] == [
        "UTIME_NOW", "UTIME_OMIT"
    ]  # fmt: skip


def test_uname_escapes_what_the_node_calls_itself() -> None:
    c = call("uname", [("name", "struct new_utsname *")])
    data = b"Linux".ljust(65, b"\0") + b"evil\x1b]0;x\x07".ljust(65, b"\0")
    caps = [cap(TABLE["uname"][0], data, 130)]
    assert c.strace_args((0x7FFD0000, 0, 0, 0, 0, 0), caps, 0, 32) == (
        '{sysname="Linux", nodename="evil\\33]0;x\\7", ...}'
    )


def test_sigaltstack_and_timers() -> None:
    c = call("sigaltstack", [("uss", "const stack_t *"), ("uoss", "stack_t *")])
    new = struct.pack("<QiiQ", 0x5559A309F260, 0, 0, 65536)
    old = struct.pack("<QiiQ", 0, 2, 0, 0)
    caps = [cap(TABLE["sigaltstack"][0], new, 24), cap(TABLE["sigaltstack"][1], old, 24)]
    assert c.strace_args((1, 2, 0, 0, 0, 0), caps, 0, 32) == (
        "{ss_sp=0x5559a309f260, ss_flags=0, ss_size=65536}, "
        "{ss_sp=NULL, ss_flags=SS_DISABLE, ss_size=0}"
    )
    t = call("setitimer", [("which", "int"), ("value", "struct __kernel_old_itimerval *"),
                           ("ovalue", "struct __kernel_old_itimerval *")])  # fmt: skip
    caps = [cap(TABLE["setitimer"][0], struct.pack("<qqqq", 0, 0, 100, 500), 32)]
    assert t.strace_args((0, 1, 0, 0, 0, 0), caps, 0, 32) == (
        "ITIMER_REAL, {it_interval={tv_sec=0, tv_usec=0}, it_value={tv_sec=100, tv_usec=500}}, NULL"
    )


def test_futex_timeout_only_for_waiting_operations() -> None:
    params = [("uaddr", "u32 *"), ("op", "int"), ("val", "u32"),
              ("utime", "const struct __kernel_timespec *"), ("uaddr2", "u32 *"),
              ("val3", "u32")]  # fmt: skip
    c = call("futex", params)
    caps = [cap(TABLE["futex"][0], struct.pack("<qq", 0, 1000), 16)]
    assert c.strace_args((0x7FFD0000, 128, 0, 0x7FFD0010, 0, 0), caps, -110, 32) == (
        "0x7ffd0000, FUTEX_WAIT_PRIVATE, 0, {tv_sec=0, tv_nsec=1000}"
    )
    # FUTEX_CMP_REQUEUE's fourth argument is a count, whatever memory it names
    text = c.strace_args((0x7FFD0000, 4, 1, 5, 0x7FFD0020, 0), caps, 0, 32)
    assert text == "0x7ffd0000, FUTEX_CMP_REQUEUE, 1, 5, 0x7ffd0020, 0"


def test_dump_time_no_buffers_keeps_message_headers_without_their_bytes() -> None:
    from sidecar.kernel.recorder import drop_buffers

    names = {46: "sendmsg", 54: "setsockopt", 20: "writev", 7: "poll"}
    wire = to_wire(names)
    msg = msghdr(SIN, [3, 4], b"abcdefg")
    records: list[list[Any]] = [
        [1, 2, 3, 0, 10, 10, "x", 46, [5, 0x7FFD0000, 0, 0, 0, 0], 7, [[1, 12, msg, 2]]],
        [2, 2, 3, 0, 10, 10, "x", 54, [7, 6, 1, 0x7FFD0000, 4, 0], 0, [[3, 6, b"\1\0\0\0", 4]]],
        [3, 2, 3, 0, 10, 10, "x", 20, [4, 0x7FFD0000, 1, 0, 0, 0], 3,
         [[1, 10, iov([3], b"abc"), 1]]],
        [4, 2, 3, 0, 10, 10, "x", 7, [0x7FFD0000, 1, 0, 0, 0, 0], 0,
         [[0, 9, pollfds((3, 1, 0)), 8]]],
    ]  # fmt: skip
    header_caps = drop_buffers(records, wire, secret_args(names))
    assert header_caps[46][0] == [1, int(Kind.MSG_IN), 0]
    assert b"abc" not in records[0][10][0][2] and records[0][10][0][2].startswith(msg[:72])
    assert records[1][10] == [] and records[2][10] == []
    assert records[3][10] == [[0, 9, pollfds((3, 1, 0)), 8]]
    c = Call("sendmsg", MSG, "x86_64", header_caps[46])
    assert "msg_iov=0x7ffd2000, msg_iovlen=2" in c.strace_args(records[0][8], records[0][10], 7, 32)


def test_clone3_fields_by_flags_and_the_parent_tid_it_wrote() -> None:
    c = call("clone3", [("uargs", "struct clone_args *"), ("size", "size_t")])
    thread = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x80000 | 0x100000 | 0x200000
    args = struct.pack("<11Q", thread, 0, 0x7F10, 0x7F10, 0, 0x7F00, 0x7FFF80, 0x7F20, 0, 0, 0)
    caps = [cap(TABLE["clone3"][0], args, 88)]
    assert line(c, (0x7FFD0000, 88, 0, 0, 0, 0), caps, 21377) == (
        "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|"
        "CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f10, "
        "parent_tid=0x7f10, exit_signal=0, stack=0x7f00, stack_size=0x7fff80, tls=0x7f20} "
        "=> {parent_tid=[21377]}, 88) = 21377"
    )
    # A failed call wrote nothing; without its capture pidfd's number is not known.
    assert "=>" not in c.strace_args((0x7FFD0000, 88, 0, 0, 0, 0), caps, -11, 32)
    pidfd = struct.pack("<11Q", 0x1000 | 0x100000, 0x7F30, 0, 0x7F10, 17, 0, 0, 0, 0, 0, 0)
    text = c.strace_args((0x7FFD0000, 88, 0, 0, 0, 0), [cap(TABLE["clone3"][0], pidfd, 88)], 5, 32)
    assert text == (
        "{flags=CLONE_PIDFD|CLONE_PARENT_SETTID, pidfd=0x7f30, parent_tid=0x7f10, "
        "exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 88"
    )
    # The pidfd the kernel wrote, read at exit through the struct (kind 18).
    with_fd = [cap(TABLE["clone3"][0], pidfd, 88), cap(TABLE["clone3"][1], b"\3\0\0\0", 4)]
    assert c.strace_args((0x7FFD0000, 88, 0, 0, 0, 0), with_fd, 5, 32) == (
        "{flags=CLONE_PIDFD|CLONE_PARENT_SETTID, pidfd=0x7f30, parent_tid=0x7f10, "
        "exit_signal=SIGCHLD, stack=NULL, stack_size=0} => {pidfd=[3], parent_tid=[5]}, 88"
    )
    js = c.json_args((0x7FFD0000, 88, 0, 0, 0, 0), with_fd, 5, None)[0]
    assert js["uargs"]["returned"] == {"pidfd": 3, "parent_tid": 5}
    assert "=>" not in c.strace_args((0x7FFD0000, 88, 0, 0, 0, 0), with_fd, -11, 32)
    # A size the kernel refuses: the pointer, as strace cannot read it either.
    assert c.strace_args((0x7FFD0000, 8, 0, 0, 0, 0), caps, -22, 32) == "0x7ffd0000, 8"


def test_getdents64_counts_entries() -> None:
    params = [("fd", "unsigned int"), ("dirent", "struct linux_dirent64 *"),
              ("count", "unsigned int")]  # fmt: skip
    c = call("getdents64", params)
    a = (3, 0x7FFD0000, 4096, 0, 0, 0)
    caps = [cap(TABLE["getdents64"][0], struct.pack("<II", 6, 0), 8)]
    assert line(c, a, caps, 168) == "getdents64(3, 0x7ffd0000 /* 6 entries */, 4096) = 168"
    # more entries than the recorder walks: said so rather than a wrong count
    caps = [cap(TABLE["getdents64"][0], struct.pack("<II", 128, 1), 8)]
    assert c.strace_args(a, caps, 9000, 32) == "3, 0x7ffd0000 /* 128+ entries */, 4096"
    assert c.json_args(a, caps, 9000, None)[0]["dirent"] == {
        "address": "0x7ffd0000", "entries": 128, "more": True
    }  # fmt: skip
    assert c.strace_args(a, caps, -9, 32) == "3, 0x7ffd0000, 4096"


def test_rt_sigreturn_shows_the_mask_it_restores() -> None:
    c = call("rt_sigreturn", [])
    caps = [cap(TABLE["rt_sigreturn"][0], struct.pack("<Q", 1 << 1), 8)]
    assert line(c, (0x7FFD0128, 0, 0, 0, 0, 0), caps, 0) == "rt_sigreturn({mask=[INT]}) = 0"
    assert c.json_args((0x7FFD0128, 0, 0, 0, 0, 0), caps, 0, None)[0] == {
        "arg0": {"mask": ["SIGINT"]}
    }  # fmt: skip
    # Not read (classic tracepoints have no registers): as before, no argument
    assert line(c, (0, 0, 0, 0, 0, 0), [], 0) == "rt_sigreturn() = 0"


def test_hostile_bytes_never_break_the_decoders() -> None:
    # A dump comes from anyone: every new decoder, on random bytes of random
    # lengths and random registers, gives text (or the pointer), never an error.
    import json
    import random

    rng = random.Random(14)
    names = [n for n, caps in TABLE.items() if any(c.kind >= Kind.ARRAY for c in caps)]
    names += ["setitimer", "timerfd_settime", "sigaltstack", "uname", "sysinfo", "utimensat",
              "epoll_ctl", "getsockopt", "setsockopt", "futex", "clone3", "wait4", "waitid"]  # fmt: skip
    for name in names:
        c = Call(name, [], "x86_64", [[x.arg, int(x.kind), x.len_arg] for x in TABLE[name]])
        for _ in range(300):
            a = tuple(rng.choice([0, 1, 4, 8, 64, 88, 2**32 - 1, 2**64 - 1, rng.getrandbits(64)])
                      for _ in range(6))  # fmt: skip
            caps = [[x.arg, int(x.kind), rng.randbytes(rng.choice([0, 3, 8, 12, 64, 130, 300])),
                     rng.getrandbits(32)] for x in TABLE[name]]  # fmt: skip
            ret = rng.choice([None, -11, 0, 1, 7, 2**31, rng.getrandbits(63)])
            c.strace_args(a, caps, ret, rng.choice([None, 4, 32]))
            json.dumps(c.json_args(a, caps, ret, None), allow_nan=False)
            if ret is not None:
                c.ret_text(ret, a, caps)


def test_execve_counts_the_environment_beside_argv() -> None:
    params = [("filename", "const char *"), ("argv", "const char *const *"),
              ("envp", "const char *const *")]  # fmt: skip
    c = call("execve", params)
    argv = b"/bin/sh".ljust(32, b"\0")
    a = (0x1000, 0x2000, 0x7FFD0000, 0, 0, 0)
    for counted, note in ((3, "/* 2 vars */"), (1, "/* 0 vars */"), (66, "/* 64+ vars */")):
        caps = [cap(TABLE["execve"][0], b"/bin/sh", 7),
                cap(TABLE["execve"][1], argv, 1 | counted << 16)]  # fmt: skip
        assert line(c, a, caps, 0) == f'execve("/bin/sh", ["/bin/sh"], 0x7ffd0000 {note}) = 0'
        # JSON keeps argv's strings and envp's pointer
        js, cut = c.json_args(a, caps, 0, None)
        assert js["argv"] == ["/bin/sh"] and js["envp"] == "0x7ffd0000"
        # the count as JSON's envp_vars; more than the recorder counts: envp cut
        assert envp_vars(caps) == min(counted - 1, 64)
        assert ("envp" in cut) == (counted == 66)
    # Not counted (an older recorder, or unreadable): the pointer alone
    caps = [cap(TABLE["execve"][0], b"/bin/sh", 7), cap(TABLE["execve"][1], argv, 1)]
    assert line(c, a, caps, 0) == 'execve("/bin/sh", ["/bin/sh"], 0x7ffd0000) = 0'
    assert envp_vars(caps) is None


def test_getsockopt_of_a_dump_before_kind_19() -> None:
    """Dumps written before: the value as a 4-byte object, the length read at exit."""
    wire = [[3, int(Kind.OBJ_OUT), 4], [4, int(Kind.OBJ_OUT), 4]]
    c = Call("getsockopt", SOCKOPT, "x86_64", wire)
    a = (3, 1, 13, 0x7FFD0000, 0x7FFD0010, 0)
    old = [[3, int(Kind.OBJ_OUT), struct.pack("<i", 1), 4],
           [4, int(Kind.OBJ_OUT), struct.pack("<i", 8), 4]]  # fmt: skip
    assert c.strace_args(a, old, 0, 32) == "3, SOL_SOCKET, SO_LINGER, 0x7ffd0000, [8]"
    old[1][2] = struct.pack("<i", 4)
    assert c.strace_args((3, 1, 3, *a[3:]), old, 0, 32) == "3, SOL_SOCKET, SO_TYPE, [1], [4]"


def arch_dump(tmp_path: Path, arch: str, nrs: dict[str, int]) -> Path:
    """A dump as a recorder on `arch` writes it, through the real writer: the
    epoll calls of tests/data/calls.c with the events laid out as there."""
    header, records = fixture("calls")
    header = {**header, "host": {**header["host"], "arch": arch}}
    table: dict[int, list[Any]] = {nrs["epoll_ctl"]: ["epoll_ctl", [["epfd", "int"], ["op", "int"], ["fd", "int"],
                                              ["event", "struct epoll_event *"]]],
             nrs["epoll_pwait"]: ["epoll_pwait", [*EPW, ["sigmask", "const sigset_t *"],
                                                  ["sigsetsize", "size_t"]]]}  # fmt: skip
    header["syscalls"] = {**header["syscalls"], **table}
    header["captures"] = {nr: [[c.arg, int(c.kind), c.len_arg]
                               for c in captures_for(entry[0], arch=arch)]
                          for nr, entry in table.items()}  # fmt: skip
    size, fmt = (12, "<IQ") if arch == "x86_64" else (16, "<I4xQ")
    ev = struct.pack(fmt, 0x80000001, 0x1234)  # EPOLLIN|EPOLLET
    base = records[5]
    ctl = [*base[:7], nrs["epoll_ctl"], [5, 1, 3, 0x7FFD0000, 0, 0], 0,
           [[3, int(Kind.OBJ_IN), ev, size]]]  # fmt: skip
    wait = [
        *base[:7],
        nrs["epoll_pwait"],
        [5, 0x7FFD0100, 4, 0, 0x7FFD0200, 8],
        1,
        [[1, int(Kind.ARRAY), ev, size], [4, int(Kind.OBJ_IN), struct.pack("<Q", 1 << 9), 8]],
    ]
    return make_dump(tmp_path / f"{arch}.msgpack", header, [ctl, wait])


@pytest.mark.parametrize(
    ("arch", "nrs"),
    [
        ("aarch64", {"epoll_ctl": 21, "epoll_pwait": 22}),
        ("x86_64", {"epoll_ctl": 233, "epoll_pwait": 281}),
    ],
)
def test_epoll_events_decode_by_the_dump_architecture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str, nrs: dict[str, int]
) -> None:
    """arm64's struct epoll_event is 16 bytes (data aligned to 8), x86_64's 12
    (packed): the layout follows the header's arch, and the recorder on each
    captures that many bytes."""
    assert captures_for("epoll_ctl", arch=arch)[0].len_arg == (12 if arch == "x86_64" else 16)
    status, out, err = show(capsys, "-o", "strace", str(arch_dump(tmp_path, arch, nrs)))
    assert (status, err) == (0, "")
    ev = "{events=EPOLLIN|EPOLLET, data={u32=4660, u64=4660}}"
    assert [x for x in out.splitlines() if x.startswith("epoll")] == [
        f"epoll_ctl(5, EPOLL_CTL_ADD, 3, {ev}) = 0",
        f"epoll_pwait(5, [{ev}], 4, 0, [USR1], 8) = 1",
    ]


# --- select, pselect6 ----------------------------------------------------------------

SELECT = [("n", "int"), ("inp", "fd_set *"), ("outp", "fd_set *"), ("exp", "fd_set *"),
          ("tvp", "struct __kernel_old_timeval *")]  # fmt: skip
PSELECT = [*SELECT[:4], ("tsp", "struct __kernel_timespec *"), ("sig", "void *")]


def fdsets(sets: list[list[int]], sec: int, frac: int, mask: tuple[int, int, int] | None) -> bytes:
    """A capture of kind 20 or 21 as captures_more.h lays it out."""
    out = b"".join(sum(1 << fd for fd in s).to_bytes(64, "little") for s in sets)
    out += struct.pack("<qq", sec, frac)
    return out + (struct.pack("<QQQ", *mask) if mask else b"")


def test_select_sets_timeout_and_what_was_ready() -> None:
    c = call("select", SELECT)
    a = (5, 0x7FFD0000, 0x7FFD0100, 0, 0x7FFD0200, 0)
    enter = fdsets([[3, 4], [], []], 1, 0, (0, 0, 0))
    leave = fdsets([[3], [], []], 0, 999000, None)
    caps = [cap(TABLE["select"][0], leave, len(leave)), cap(TABLE["select"][1], enter, len(enter))]
    assert line(c, a, caps, 1) == (
        "select(5, [3 4], [], NULL, {tv_sec=1, tv_usec=0}) = 1 (in [3], left {tv_sec=0, "
        "tv_usec=999000})"
    )
    js = c.json_args(a, caps, 1, None)[0]
    assert (js["inp"], js["outp"], js["tvp"]) == ([3, 4], [], {"tv_sec": 1, "tv_usec": 0})
    assert line(c, a, caps[1:], 0) == (
        "select(5, [3 4], [], NULL, {tv_sec=1, tv_usec=0}) = 0 (Timeout)"
    )
    # More descriptors than the recorder keeps (512): the sets' pointers
    big = (700, *a[1:])
    assert c.strace_args(big, caps, 1, 32) == (
        "700, 0x7ffd0000, 0x7ffd0100, NULL, {tv_sec=1, tv_usec=0}"
    )
    assert c.ret_text(1, big, caps) == "1"


def test_pselect6_sigmask_pair() -> None:
    c = call("pselect6", PSELECT)
    a = (4, 0x7FFD0000, 0, 0, 0x7FFD0200, 0x7FFD0300)
    enter = fdsets([[3], [], []], 1, 0, (0x7FFD0400, 8, 1 << 9))
    caps = [cap(TABLE["pselect6"][1], enter, len(enter))]
    assert c.strace_args(a, caps, 0, 32) == (
        "4, [3], NULL, NULL, {tv_sec=1, tv_nsec=0}, {sigmask=[USR1], sigsetsize=8}"
    )
    assert c.json_args(a, caps, 0, None)[0]["sig"] == {"sigmask": ["SIGUSR1"], "sigsetsize": 8}
    enter = fdsets([[3], [], []], 1, 0, (0, 8, 0))
    caps = [cap(TABLE["pselect6"][1], enter, len(enter))]
    assert c.strace_args(a, caps, 0, 32).endswith(", {sigmask=NULL, sigsetsize=8}")


def test_ppoll_timeout_and_sigmask() -> None:
    params = [*POLL[:2], ("tsp", "struct __kernel_timespec *"), ("sigmask", "const sigset_t *"),
              ("sigsetsize", "size_t")]  # fmt: skip
    c = call("ppoll", params)
    fds = cap(TABLE["ppoll"][0], pollfds((3, 1, 1)), 8)
    both = cap(TABLE["ppoll"][1], struct.pack("<qqQ", 1, 0, 1 << 9), 24)
    a = (0x7FFD0000, 1, 0x7FFD0100, 0x7FFD0200, 8, 0)
    assert line(c, a, [fds, both], 1) == (
        "ppoll([{fd=3, events=POLLIN}], 1, {tv_sec=1, tv_nsec=0}, [USR1], 8) = 1 "
        "([{fd=3, revents=POLLIN}])"
    )
    assert c.json_args(a, [fds, both], 1, None)[0]["sigmask"] == ["SIGUSR1"]
    # NULL timeout, or NULL sigmask: the capture holds the other
    assert c.strace_args((a[0], 1, 0, *a[3:]), [fds, both], 1, 32).endswith(", NULL, [USR1], 8")
    assert c.strace_args((*a[:3], 0, 8, 0), [fds, both], 1, 32).endswith(
        ", {tv_sec=1, tv_nsec=0}, NULL, 8"
    )
    # a dump from before kind 22: the timeout alone, as a 16-byte object
    old = Call("ppoll", params, "x86_64", [[0, int(Kind.ARRAY), 8 << 3 | 1], [2, 6, 16]])
    ts = [2, int(Kind.OBJ_IN), struct.pack("<qq", 1, 0), 16]
    assert old.strace_args(a, [fds, ts], 1, 32).endswith(", {tv_sec=1, tv_nsec=0}, 0x7ffd0200, 8")


def test_control_messages_as_strace_shows_them() -> None:
    # strace 6.1's lines for the same messages (tests/data/calls.c sends and
    # receives SCM_RIGHTS and SCM_CREDENTIALS; test_decode_strace compares them)
    rights = cmsg(1, 1, struct.pack("<i", 3))
    creds = cmsg(1, 2, struct.pack("<iII", 21448, 0, 0))
    c = call("recvmsg", MSG)
    a = (4, 0x7FFD0000, 0, 0, 0, 0)
    caps = [cap(TABLE["recvmsg"][0], msghdr(b"", [16], b"x", controllen=56), 1),
            cap(TABLE["recvmsg"][1], creds + rights, 56)]  # fmt: skip
    assert c.strace_args(a, caps, 1, 32) == (
        '4, {msg_name=NULL, msg_namelen=0, msg_iov=[{iov_base="x", iov_len=16}], msg_iovlen=1, '
        "msg_control=[{cmsg_len=28, cmsg_level=SOL_SOCKET, cmsg_type=SCM_CREDENTIALS, "
        "cmsg_data={pid=21448, uid=0, gid=0}}, {cmsg_len=20, cmsg_level=SOL_SOCKET, "
        "cmsg_type=SCM_RIGHTS, cmsg_data=[3]}], msg_controllen=56, msg_flags=0}, 0"
    )
    js = c.json_args(a, caps, 1, None)[0]["msg"]["msg_control"]
    assert js[1] == {"cmsg_len": 20, "cmsg_level": "SOL_SOCKET", "cmsg_type": "SCM_RIGHTS",
                     "cmsg_data": [3]}  # fmt: skip
    # without the control capture (an older dump, a failed read): the pointer
    assert "msg_control=0x7ffd3000, msg_controllen=56" in c.strace_args(a, caps[:1], 1, 32)
    unreadable = [caps[0], [1, int(Kind.CMSG), None, 56]]
    assert "msg_control=0x7ffd3000, msg_controllen=56" in c.strace_args(a, unreadable, 1, 32)
    assert c.json_args(a, unreadable, 1, None)[0]["msg"]["msg_control"] == "0x7ffd3000"
    s = call("sendmsg", MSG)
    msg = cap(TABLE["sendmsg"][0], msghdr(b"", [1], b"x", controllen=24), 1)
    unknown = cap(TABLE["sendmsg"][1], cmsg(99, 7, b"abcd"), 24)
    assert "msg_control=[{cmsg_len=20, cmsg_level=0x63 /* SOL_??? */, cmsg_type=0x7}], " in (
        s.strace_args(a, [msg, unknown], 1, 32)
    )
    # more control bytes than the recorder keeps: those it has, then `...`
    msg = cap(TABLE["sendmsg"][0], msghdr(b"", [1], b"x", controllen=24 + 64), 1)
    big = struct.pack("<QiI", 16 + 48, 1, 1)  # 12 fds, of which none was kept
    kept = cap(TABLE["sendmsg"][1], rights + big, 88)
    assert "cmsg_data=[3]}, ...], msg_controllen=88" in s.strace_args(a, [msg, kept], 1, 32)


def test_classic_tracepoints_keep_the_captures_their_sys_enter_affords() -> None:
    """Classic tracepoints' sys_enter cannot take the kinds read from several
    arguments at enter: ppoll keeps its timeout alone, select its exit sets."""
    assert [c.kind for c in captures_for("ppoll", raw_tracepoints=False)] == [Kind.ARRAY,
                                                                             Kind.OBJ_IN]  # fmt: skip
    assert [c.kind for c in captures_for("select", raw_tracepoints=False)] == [Kind.FDSETS_OUT]
    assert Kind.TS_SIGSET in [c.kind for c in captures_for("ppoll")]
