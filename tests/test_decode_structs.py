"""Fixed-size objects (stat, wait status, sigaction, sigsets...) in strace's
form and as JSON; the expected texts are strace 6.1's for the same values
(tests/test_decode_strace.py compares whole lines against strace itself)."""

from __future__ import annotations

import struct

import pytest

from sidecar.dump.captures import TABLE, Kind
from sidecar.render import fdsets, objects
from sidecar.render.calls import Call
from sidecar.render.flags import filetype_mode, makedev, statx_flags
from sidecar.render.objects import more_decoders
from sidecar.render.sockopts import JOINT
from sidecar.render.structs import Decoder, decoders, sigset_text
from sidecar.render.vectors import msg_joint, vec_decoders


def x86_stat(mode: int, size: int = 0, rdev: int = 0) -> bytes:
    # st_dev, st_ino, st_nlink, st_mode, st_uid, st_gid, pad, st_rdev, st_size
    return struct.pack("<QQQIIIiQq", 1, 2, 3, mode, 0, 0, 0, rdev, size)


def arm_stat(mode: int, size: int = 0) -> bytes:
    # st_dev, st_ino, st_mode, st_nlink, st_uid, st_gid, st_rdev, pad, st_size
    return struct.pack("<QQIIIIQQq", 1, 2, mode, 1, 0, 0, 0, 0, size)


def decode(name: str, arg: int, data: bytes, args: tuple[int, ...] = (0,) * 6,
           ret: int | None = 0, arch: str = "x86_64") -> tuple[str, object] | None:  # fmt: skip
    return decoders(name, arch)[arg](data, args, ret)


def text(
    name: str,
    arg: int,
    data: bytes,
    *,
    args: tuple[int, ...] = (0,) * 6,
    ret: int | None = 0,
    arch: str = "x86_64",
) -> str | None:
    got = decode(name, arg, data, args, ret, arch)
    return None if got is None else got[0]


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        (0o100644, "S_IFREG|0644"),
        (0o100000, "S_IFREG|000"),
        (0o104755, "S_IFREG|S_ISUID|0755"),
        (0o041777, "S_IFDIR|S_ISVTX|0777"),
        (0o120777, "S_IFLNK|0777"),
        (0o010644, "S_IFIFO|0644"),
        (0o100007, "S_IFREG|007"),
        # mknodat's modes, as strace 6.1 printed them
        (0o024600, "S_IFCHR|S_ISUID|0600"),
        (0o002755, "S_ISGID|0755"),
        (0o170644, "0170644"),
        (0o100000, "S_IFREG|000"),
    ],
)
def test_file_modes(mode: int, want: str) -> None:
    assert filetype_mode(mode, ()) == want


def test_device_numbers() -> None:
    assert makedev(1 << 8) == "makedev(0x1, 0)"
    assert makedev(0) == "makedev(0, 0)"


def test_stat_x86_64_and_arm64() -> None:
    want = "{st_mode=S_IFREG|0644, st_size=34851, ...}"
    assert text("newfstatat", 2, x86_stat(0o100644, 34851)) == want
    assert text("newfstatat", 2, arm_stat(0o100644, 34851), arch="aarch64") == want
    got = decode("fstat", 1, x86_stat(0o100644, 34851))
    assert got is not None and got[1] == {"st_mode": "S_IFREG|0644", "st_size": 34851}


def test_stat_of_devices_shows_the_device_number() -> None:
    null = (1 << 8) | 3
    assert text("stat", 1, x86_stat(0o20666, rdev=null)) == (
        "{st_mode=S_IFCHR|0666, st_rdev=makedev(0x1, 0x3), ...}"
    )
    vda = 254 << 8
    assert text("lstat", 1, x86_stat(0o60600, rdev=vda)) == (
        "{st_mode=S_IFBLK|0600, st_rdev=makedev(0xfe, 0), ...}"
    )
    # Majors and minors past 12 and 8 bits (glibc's 64-bit dev_t encoding).
    big = (0x1234 & 0xFFF) << 8 | (0x1234 & ~0xFFF) << 32 | 0x56 | (0x789A00 << 12)
    assert "makedev(0x1234, 0x789a56)" in (text("stat", 1, x86_stat(0o20600, rdev=big)) or "")


def test_statx() -> None:
    # stx_mask, blksize, attributes, nlink, uid, gid, mode, pad, ino, size
    data = struct.pack("<IIQIIIHHQQ", 0x17FF, 4096, 0x2000, 2, 0, 0, 0o40755, 0, 2, 4096)
    assert decode("statx", 4, data) == (
        "{stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=STATX_ATTR_MOUNT_ROOT, "
        "stx_mode=S_IFDIR|0755, stx_size=4096, ...}",
        {"stx_mask": "STATX_BASIC_STATS|STATX_MNT_ID", "stx_attributes": "STATX_ATTR_MOUNT_ROOT",
         "stx_mode": "S_IFDIR|0755", "stx_size": 4096},
    )  # fmt: skip


def test_statx_flags_name_the_sync_mode_first() -> None:
    assert statx_flags(0, ()) == "AT_STATX_SYNC_AS_STAT"
    assert statx_flags(0x100, ()) == "AT_STATX_SYNC_AS_STAT|AT_SYMLINK_NOFOLLOW"
    assert statx_flags(0x2800, ()) == "AT_STATX_FORCE_SYNC|AT_NO_AUTOMOUNT"
    assert statx_flags(0x6000, ()) == "AT_STATX_FORCE_SYNC|AT_STATX_DONT_SYNC"


def test_objects_too_short_or_of_unknown_layout_stay_pointers() -> None:
    assert text("stat", 1, x86_stat(0o100644)[:40]) is None
    assert decoders("newfstatat", "riscv64") == {}
    assert decoders("rt_sigaction", "aarch64") == {}
    assert decoders("read", "x86_64") == {}


@pytest.mark.parametrize(
    ("status", "want", "js"),
    [
        (7 << 8, "[{WIFEXITED(s) && WEXITSTATUS(s) == 7}]", {"exit_status": 7}),
        (0, "[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]", {"exit_status": 0}),
        (11, "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGSEGV}]",
         {"term_signal": "SIGSEGV", "core_dumped": False}),
        (0x80 | 6, "[{WIFSIGNALED(s) && WTERMSIG(s) == SIGABRT && WCOREDUMP(s)}]",
         {"term_signal": "SIGABRT", "core_dumped": True}),
        (19 << 8 | 0x7F, "[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGSTOP}]", {"stop_signal": "SIGSTOP"}),
        (0xFFFF, "[{WIFCONTINUED(s)}]", {"continued": True}),
        (4 << 16 | 5 << 8 | 0x7F, "[{WIFSTOPPED(s) && WSTOPSIG(s) == SIGTRAP} | 0x40000]",
         {"stop_signal": "SIGTRAP"}),
    ],
)  # fmt: skip
def test_wait_status(status: int, want: str, js: object) -> None:
    assert decode("wait4", 1, struct.pack("<I", status), ret=42) == (want, js)


def test_wait_status_only_when_a_child_was_reaped() -> None:
    data = struct.pack("<I", 0)
    assert text("wait4", 1, data, ret=0) is None  # WNOHANG, nothing to reap
    assert text("wait4", 1, data, ret=None) is None  # unfinished


def test_descriptor_pairs() -> None:
    assert decode("pipe2", 0, struct.pack("<ii", 3, 4)) == ("[3, 4]", [3, 4])
    assert text("socketpair", 3, struct.pack("<ii", 7, 8)) == "[7, 8]"


def bits(*sigs: int) -> int:
    return sum(1 << (s - 1) for s in set(sigs))


def test_sigsets_as_strace_writes_them() -> None:
    assert sigset_text(0) == "[]"
    assert sigset_text(bits(10, 17)) == "[USR1 CHLD]"
    assert sigset_text(bits(32, 33, 35, 64)) == "[RTMIN RT_1 RT_3 RT_32]"
    assert sigset_text((1 << 64) - 1) == "~[]"
    assert sigset_text(((1 << 64) - 1) & ~bits(32, 33)) == "~[RTMIN RT_1]"
    # strace 6.1 turns to the complement at 42 of 64 signals set, not at 41.
    below = ((1 << 43) - 1) & ~bits(9, 19)  # 41 set: HUP to RT_11 without KILL and STOP
    assert sigset_text(below).startswith("[HUP INT QUIT ILL TRAP ABRT BUS FPE USR1 SEGV USR2 ")
    assert sigset_text(below).endswith(" RT_10 RT_11]")
    at = ((1 << 44) - 1) & ~bits(9, 19)  # 42 set
    assert sigset_text(at) == "~[KILL STOP " + " ".join(f"RT_{i}" for i in range(13, 33)) + "]"


def test_sigprocmask_sets_need_the_kernels_size() -> None:
    data = struct.pack("<Q", bits(10, 17))
    assert decode("rt_sigprocmask", 1, data, args=(0, 1, 0, 8, 0, 0)) == (
        "[USR1 CHLD]",
        ["SIGUSR1", "SIGCHLD"],
    )
    assert text("rt_sigprocmask", 1, data, args=(0, 1, 0, 4, 0, 0)) is None  # EINVAL


def test_sigactions() -> None:
    args = (13, 1, 2, 8, 0, 0)
    ign = struct.pack("<QQQQ", 1, 0x14000000, 0x7F68E4ADF050, bits(2))
    assert decode("rt_sigaction", 1, ign, args=args) == (
        "{sa_handler=SIG_IGN, sa_mask=[INT], sa_flags=SA_RESTORER|SA_RESTART, "
        "sa_restorer=0x7f68e4adf050}",
        {"sa_handler": "SIG_IGN", "sa_mask": ["SIGINT"], "sa_flags": "SA_RESTORER|SA_RESTART",
         "sa_restorer": "0x7f68e4adf050"},
    )  # fmt: skip
    dfl = struct.pack("<QQQQ", 0, 0, 0, 0)
    assert text("rt_sigaction", 2, dfl, args=args) == "{sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}"
    handler = struct.pack("<QQQQ", 0x562FD2F41299, 0x4 | 0x800, 0, 0)
    assert text("rt_sigaction", 1, handler, args=args) == (
        "{sa_handler=0x562fd2f41299, sa_mask=[], sa_flags=SA_SIGINFO|0x800}"
    )


def test_timespecs_and_rlimits() -> None:
    ts = struct.pack("<qq", 1, 500)
    assert decode("nanosleep", 0, ts) == ("{tv_sec=1, tv_nsec=500}", {"tv_sec": 1, "tv_nsec": 500})
    assert text("clock_nanosleep", 2, ts) == "{tv_sec=1, tv_nsec=500}"
    assert text("clock_gettime", 1, ts) == "{tv_sec=1, tv_nsec=500}"
    inf = (1 << 64) - 1
    assert text("prlimit64", 3, struct.pack("<QQ", 8192 * 1024, inf)) == (
        "{rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}"
    )
    # strace writes N*1024 only above 1024.
    assert (
        text("getrlimit", 1, struct.pack("<QQ", 1024, 20000)) == "{rlim_cur=1024, rlim_max=20000}"
    )
    assert text("setrlimit", 1, struct.pack("<QQ", 2048, 0)) == "{rlim_cur=2*1024, rlim_max=0}"


def all_decoders(name: str, arch: str = "x86_64") -> dict[int, Decoder]:
    return {**decoders(name, arch), **more_decoders(name, arch)}


# Registers under which each call's objects are what strace decodes: sigset
# sizes of 8 where the call has one, an int option's length, a waiting futex.
REGS = {
    "rt_sigpending": (0, 8, 0, 0, 0, 0), "rt_sigsuspend": (0, 8, 0, 0, 0, 0),
    "setsockopt": (0, 0, 0, 0, 4, 0), "futex": (0, 0, 0, 0, 0, 0),
    "clone3": (0, 88, 0, 0, 0, 0),
}  # fmt: skip


def test_every_captured_object_has_a_decoder_that_fits_its_size() -> None:
    for name, caps in TABLE.items():
        for c in caps:
            if c.kind not in (Kind.OBJ_IN, Kind.OBJ_OUT):
                continue
            if name in JOINT:
                continue  # socket options: decoded with their lengths (test_decode_vectors.py)
            found = all_decoders(name)
            assert c.arg in found, name
            # A capture of the configured size holds everything the decoder reads.
            data = bytes(c.len_arg)
            sizes = REGS.get(name, (0, 1, 8, 8, 8, 8))  # sigset sizes where the call has one
            assert found[c.arg](data, sizes, 1) is not None, name
            assert found[c.arg](data[:-1], sizes, 1) is None, f"{name}: capture larger than needed"


# Kinds of captures_more.h that may be a call's second capture (read at
# enter, or at exit by capture_exit's own code); and those decoded jointly with
# the call's other arguments (render/sockopts.py, render/fdsets.py,
# vectors.msg_joint).
SECOND_OK = (Kind.TIMEOUT, Kind.SIGFRAME, Kind.FDSETS_IN, Kind.TS_SIGSET, Kind.CMSG)
JOINTLY = (Kind.SOCKOPT, Kind.FDSETS_IN, Kind.FDSETS_OUT, Kind.TS_SIGSET, Kind.CMSG)


def test_every_array_iovec_and_message_capture_has_a_decoder() -> None:
    for name, caps in TABLE.items():
        for c in caps:
            wire = [[x.arg, int(x.kind), x.len_arg] for x in caps]
            if c.kind == Kind.PIDFD:  # decoded with the struct it was read through
                assert name in objects.JOINT and caps[0].kind == Kind.OBJ_IN, name
                continue
            if c.kind in JOINTLY:
                assert name in JOINT or name in fdsets.JOINT or msg_joint(name, wire), name
            if c.kind >= Kind.ARRAY and c.kind not in SECOND_OK:
                # The kernel side reads these kinds as a call's first capture only.
                assert caps.index(c) == 0, name
            if c.kind >= Kind.ARRAY and c.kind not in JOINTLY:
                assert c.arg in vec_decoders(name, "x86_64", wire), name


def test_call_puts_objects_in_place_of_pointers() -> None:
    params = [
        ("upid", "pid_t"),
        ("stat_addr", "int *"),
        ("options", "int"),
        ("ru", "struct rusage *"),
    ]
    call = Call("wait4", params, "x86_64", [[1, int(Kind.OBJ_OUT), 4]])
    regs = (42, 0x7FFD0000, 0, 0, 0, 0)
    caps = [[1, int(Kind.OBJ_OUT), struct.pack("<I", 3 << 8), 4]]
    assert call.strace_args(regs, caps, 42, None) == (
        "42, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL"
    )
    args, cut = call.json_args(regs, caps, 42, None)
    assert args["stat_addr"] == {"exit_status": 3} and cut == []
    assert call.strace_args(regs, [], -10, None) == "42, 0x7ffd0000, 0, NULL"
