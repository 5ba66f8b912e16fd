"""Linux flag and constant tables, with strace's names and print order.

Values are the x86_64 ones; they are the generic Linux ones too (arm64), except
where noted (`open` flags, `MAP_32BIT`). Orders follow strace 6.x: flags print
in the order of these tables, not by value (strace prints O_NOFOLLOW before
O_DIRECTORY), and tests/test_decode_strace.py holds them to strace's output.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.render.signals import signal_name
from sidecar.render.values import MASK32, Fmt, as_s32, bits_text, memo, unknown

Table = tuple[tuple[int, str], ...]

# --- open(2), fcntl(F_GETFL/F_SETFL) -------------------------------------

ACCMODE = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR", 3: "O_ACCMODE"}

_OPEN_X86: Table = (
    (0o100, "O_CREAT"), (0o200, "O_EXCL"), (0o400, "O_NOCTTY"), (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"), (0o4000, "O_NONBLOCK"), (0o4010000, "O_SYNC"), (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"), (0o100000, "O_LARGEFILE"), (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"), (0o2000000, "O_CLOEXEC"), (0o10000000, "O_PATH"),
    (0o20200000, "O_TMPFILE"), (0o200000, "O_DIRECTORY"), (0o20000, "FASYNC"),
    (0o20000000, "__O_TMPFILE"),
)  # fmt: skip

# arm64 (and the other asm-generic architectures but x86) move four flags.
_OPEN_GENERIC_MOVES = {
    "O_DIRECTORY": 0o40000, "O_NOFOLLOW": 0o100000, "O_DIRECT": 0o200000,
    "O_LARGEFILE": 0o400000, "O_TMPFILE": 0o20040000,
}  # fmt: skip


def open_table(arch: str) -> Table:
    if arch in ("", "x86_64", "i386", "i686"):
        return _OPEN_X86
    return tuple((_OPEN_GENERIC_MOVES.get(n, v), n) for v, n in _OPEN_X86)


def open_flags(table: Table) -> Fmt:
    """`O_RDONLY|O_CLOEXEC`: the access mode always, then the flags."""

    def render(v: int) -> str:
        v &= MASK32
        return "|".join([ACCMODE[v & 3], *bits_text(v & ~3, table)])

    return memo(render)


def open_creates(flags: int) -> bool:
    """Whether open's mode argument is used (strace prints it only then)."""
    return bool(flags & 0o100) or flags & 0o20000000 != 0


# --- file modes --------------------------------------------------------------

S_IFMT = {
    0o140000: "S_IFSOCK", 0o120000: "S_IFLNK", 0o100000: "S_IFREG", 0o060000: "S_IFBLK",
    0o040000: "S_IFDIR", 0o020000: "S_IFCHR", 0o010000: "S_IFIFO",
}  # fmt: skip


_MODE_BITS = ((0o4000, "S_ISUID"), (0o2000, "S_ISGID"), (0o1000, "S_ISVTX"))


def is_device(mode: int) -> bool:
    """A character or block device: its number (st_rdev, mknod's dev) matters."""
    return mode & 0o170000 in (0o020000, 0o060000)


def _filetype_mode(v: int) -> str:
    """strace's symbolic mode_t: `S_IFREG|S_ISUID|0755`, `S_ISGID|0755`; a
    file type it does not know makes the whole value octal."""
    v &= MASK32
    ftype = v & 0o170000
    kind = S_IFMT.get(ftype)
    if ftype and kind is None:
        return "0" + format(v, "o")
    parts = [kind] if kind else []
    parts += [name for bit, name in _MODE_BITS if v & bit]
    perm = v & ~0o177000
    parts.append(("0" + format(perm, "o") if perm else "0").rjust(3, "0"))  # C's %#03o
    return "|".join(parts)


filetype_mode = memo(_filetype_mode)


def _hex0(v: int) -> str:
    return hex(v) if v else "0"  # C's %#x


def makedev(v: int) -> str:
    """A dev_t as strace shows it (glibc's major/minor of the kernel's encoding)."""
    major = ((v >> 8) & 0xFFF) | ((v >> 32) & ~0xFFF & MASK32)
    minor = (v & 0xFF) | ((v >> 12) & ~0xFF & MASK32)
    return f"makedev({_hex0(major)}, {_hex0(minor)})"


# --- *at(2) ------------------------------------------------------------------

AT_FLAGS: Table = (
    (0x100, "AT_SYMLINK_NOFOLLOW"), (0x400, "AT_SYMLINK_FOLLOW"), (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"), (0x2000, "AT_STATX_FORCE_SYNC"), (0x4000, "AT_STATX_DONT_SYNC"),
    (0x8000, "AT_RECURSIVE"),
)  # fmt: skip
AT_REMOVEDIR: Table = ((0x200, "AT_REMOVEDIR"),)
_STATX_SYNC = {0: "AT_STATX_SYNC_AS_STAT", 0x2000: "AT_STATX_FORCE_SYNC",
               0x4000: "AT_STATX_DONT_SYNC"}  # fmt: skip


def _statx_flags(v: int) -> str:
    """statx's flags: the sync mode always named first (strace), then the rest."""
    v &= MASK32
    sync = _STATX_SYNC.get(v & 0x6000)
    if sync is None:  # both sync bits: not a mode, plain flags
        return "|".join(bits_text(v, AT_FLAGS))
    return "|".join([sync, *bits_text(v & ~0x6000, AT_FLAGS)])


statx_flags = memo(_statx_flags)
AT_EACCESS_FLAGS: Table = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"),
                           (0x1000, "AT_EMPTY_PATH"))  # fmt: skip
ACCESS_MODES: Table = ((4, "R_OK"), (2, "W_OK"), (1, "X_OK"))
STATX_MASK: Table = (
    (0xFFF, "STATX_ALL"), (0x7FF, "STATX_BASIC_STATS"), (0x1, "STATX_TYPE"), (0x2, "STATX_MODE"),
    (0x4, "STATX_NLINK"), (0x8, "STATX_UID"), (0x10, "STATX_GID"), (0x20, "STATX_ATIME"),
    (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"), (0x100, "STATX_INO"), (0x200, "STATX_SIZE"),
    (0x400, "STATX_BLOCKS"), (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"),
    (0x2000, "STATX_DIOALIGN"),
)  # fmt: skip
RENAME_FLAGS: Table = ((1, "RENAME_NOREPLACE"), (2, "RENAME_EXCHANGE"), (4, "RENAME_WHITEOUT"))

# --- memory ------------------------------------------------------------------

PROT: Table = (
    (1, "PROT_READ"), (2, "PROT_WRITE"), (4, "PROT_EXEC"), (8, "PROT_SEM"),
    (0x01000000, "PROT_GROWSDOWN"), (0x02000000, "PROT_GROWSUP"),
)  # fmt: skip
MAP_TYPE = {1: "MAP_SHARED", 2: "MAP_PRIVATE", 3: "MAP_SHARED_VALIDATE"}
_MAP: Table = (
    (0x10, "MAP_FIXED"), (0x20, "MAP_ANONYMOUS"), (0x40, "MAP_32BIT"), (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"), (0x10000, "MAP_NONBLOCK"), (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"), (0x1000, "MAP_EXECUTABLE"), (0x2000, "MAP_LOCKED"),
    (0x20000, "MAP_STACK"), (0x40000, "MAP_HUGETLB"), (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
)  # fmt: skip
MAP_HUGE_SHIFT = 26


def map_table(arch: str) -> Table:
    if arch in ("", "x86_64", "i386", "i686"):
        return _MAP
    return tuple(e for e in _MAP if e[1] != "MAP_32BIT")


def mmap_flags(table: Table) -> Fmt:
    """`MAP_PRIVATE|MAP_ANONYMOUS`, huge page sizes as strace: `21<<MAP_HUGE_SHIFT`."""

    def render(v: int) -> str:
        v &= MASK32
        huge = (v >> MAP_HUGE_SHIFT) & 0x3F
        v &= ~(0x3F << MAP_HUGE_SHIFT)
        kind = MAP_TYPE.get(v & 0xF)
        out = [kind] if kind else []
        out += bits_text(v & ~0xF if kind else v, table)
        if huge:
            out.append(f"{huge}<<MAP_HUGE_SHIFT")
        return "|".join(out) or "0"

    return memo(render)


MREMAP: Table = ((1, "MREMAP_MAYMOVE"), (2, "MREMAP_FIXED"), (4, "MREMAP_DONTUNMAP"))
MREMAP_FIXED = 2
MADV = {
    0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED",
    4: "MADV_DONTNEED", 8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK",
    12: "MADV_MERGEABLE", 13: "MADV_UNMERGEABLE", 14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE",
    16: "MADV_DONTDUMP", 17: "MADV_DODUMP", 18: "MADV_WIPEONFORK", 19: "MADV_KEEPONFORK",
    20: "MADV_COLD", 21: "MADV_PAGEOUT", 22: "MADV_POPULATE_READ", 23: "MADV_POPULATE_WRITE",
    24: "MADV_DONTNEED_LOCKED", 25: "MADV_COLLAPSE", 100: "MADV_HWPOISON",
    101: "MADV_SOFT_OFFLINE",
}  # fmt: skip
FADVISE = {0: "POSIX_FADV_NORMAL", 1: "POSIX_FADV_RANDOM", 2: "POSIX_FADV_SEQUENTIAL",
           3: "POSIX_FADV_WILLNEED", 4: "POSIX_FADV_DONTNEED", 5: "POSIX_FADV_NOREUSE"}  # fmt: skip
MEMFD: Table = ((1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"),
                (8, "MFD_NOEXEC_SEAL"), (0x10, "MFD_EXEC"))  # fmt: skip

# --- processes ---------------------------------------------------------------

CLONE: Table = (
    (0x100, "CLONE_VM"), (0x200, "CLONE_FS"), (0x400, "CLONE_FILES"), (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"), (0x2000, "CLONE_PTRACE"), (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"), (0x10000, "CLONE_THREAD"), (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"), (0x80000, "CLONE_SETTLS"), (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"), (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"), (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"), (0x4000000, "CLONE_NEWUTS"), (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"), (0x20000000, "CLONE_NEWPID"), (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
)  # fmt: skip
# unshare(2) and setns(2) take the namespace flags, CLONE_NEWTIME among them.
UNSHARE: Table = ((0x80, "CLONE_NEWTIME"), *CLONE)
CLONE_PARENT_SETTID = 0x100000
CLONE_PIDFD = 0x1000
CLONE_CHILD_TID = 0x200000 | 0x1000000
CLONE_SETTLS = 0x80000


def _clone_flags(v: int) -> str:
    """clone's flags: the namespace/sharing bits, then the exit signal in the low byte."""
    v &= 0xFFFF_FFFF_FFFF_FFFF
    out = bits_text(v & ~0xFF, CLONE)
    if v & 0xFF:
        out.append(signal_name(v & 0xFF))
    return "|".join(out) or "0"


clone_flags = memo(_clone_flags)

WAIT_OPTIONS: Table = (
    (1, "WNOHANG"), (2, "WSTOPPED"), (4, "WEXITED"), (8, "WCONTINUED"), (0x01000000, "WNOWAIT"),
    (0x80000000, "__WCLONE"), (0x40000000, "__WALL"), (0x20000000, "__WNOTHREAD"),
)  # fmt: skip
IDTYPE = {0: "P_ALL", 1: "P_PID", 2: "P_PGID", 3: "P_PIDFD"}
SIGPROCMASK_HOW = {0: "SIG_BLOCK", 1: "SIG_UNBLOCK", 2: "SIG_SETMASK"}
RLIMIT = {
    0: "RLIMIT_CPU", 1: "RLIMIT_FSIZE", 2: "RLIMIT_DATA", 3: "RLIMIT_STACK", 4: "RLIMIT_CORE",
    5: "RLIMIT_RSS", 6: "RLIMIT_NPROC", 7: "RLIMIT_NOFILE", 8: "RLIMIT_MEMLOCK", 9: "RLIMIT_AS",
    10: "RLIMIT_LOCKS", 11: "RLIMIT_SIGPENDING", 12: "RLIMIT_MSGQUEUE", 13: "RLIMIT_NICE",
    14: "RLIMIT_RTPRIO", 15: "RLIMIT_RTTIME",
}  # fmt: skip
ARCH_PRCTL = {
    0x1001: "ARCH_SET_GS", 0x1002: "ARCH_SET_FS", 0x1003: "ARCH_GET_FS", 0x1004: "ARCH_GET_GS",
    0x1011: "ARCH_GET_CPUID", 0x1012: "ARCH_SET_CPUID", 0x2001: "ARCH_MAP_VDSO_X32",
    0x2002: "ARCH_MAP_VDSO_32", 0x2003: "ARCH_MAP_VDSO_64", 0x4001: "ARCH_GET_UNTAG_MASK",
    0x4002: "ARCH_ENABLE_TAGGED_ADDR", 0x4003: "ARCH_GET_MAX_TAG_BITS",
    0x4004: "ARCH_FORCE_TAGGED_SVA", 0x5001: "ARCH_SHSTK_ENABLE", 0x5002: "ARCH_SHSTK_DISABLE",
    0x5003: "ARCH_SHSTK_LOCK", 0x5004: "ARCH_SHSTK_UNLOCK", 0x5005: "ARCH_SHSTK_STATUS",
}  # fmt: skip
PRCTL = {
    1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
    7: "PR_GET_KEEPCAPS", 8: "PR_SET_KEEPCAPS", 15: "PR_SET_NAME", 16: "PR_GET_NAME",
    21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP", 23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP",
    35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER", 37: "PR_GET_CHILD_SUBREAPER",
    38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS", 47: "PR_CAP_AMBIENT",
    0x59616D61: "PR_SET_PTRACER", 1398164801: "PR_SET_VMA",
}  # fmt: skip
CLOCKS = {
    0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
    3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE",
    6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME", 8: "CLOCK_REALTIME_ALARM",
    9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI",
}  # fmt: skip
TIMER_FLAGS: Table = ((1, "TIMER_ABSTIME"),)
ITIMERS = {0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"}
RWF: Table = ((1, "RWF_HIPRI"), (2, "RWF_DSYNC"), (4, "RWF_SYNC"), (8, "RWF_NOWAIT"),
              (0x10, "RWF_APPEND"))  # fmt: skip
GETRANDOM: Table = ((1, "GRND_NONBLOCK"), (2, "GRND_RANDOM"), (4, "GRND_INSECURE"))


def _signal(v: int) -> str:
    return signal_name(as_s32(v))


signal = memo(_signal)

# --- fds ---------------------------------------------------------------------

FCNTL = {
    0: "F_DUPFD", 1: "F_GETFD", 2: "F_SETFD", 3: "F_GETFL", 4: "F_SETFL", 5: "F_GETLK",
    6: "F_SETLK", 7: "F_SETLKW", 8: "F_SETOWN", 9: "F_GETOWN", 10: "F_SETSIG", 11: "F_GETSIG",
    15: "F_SETOWN_EX", 16: "F_GETOWN_EX", 17: "F_GETOWNER_UIDS", 36: "F_OFD_GETLK",
    37: "F_OFD_SETLK", 38: "F_OFD_SETLKW", 1024: "F_SETLEASE", 1025: "F_GETLEASE",
    1026: "F_NOTIFY", 1030: "F_DUPFD_CLOEXEC", 1031: "F_SETPIPE_SZ", 1032: "F_GETPIPE_SZ",
    1033: "F_ADD_SEALS", 1034: "F_GET_SEALS", 1035: "F_GET_RW_HINT", 1036: "F_SET_RW_HINT",
    1037: "F_GET_FILE_RW_HINT", 1038: "F_SET_FILE_RW_HINT",
}  # fmt: skip
FD_FLAGS: Table = ((1, "FD_CLOEXEC"),)
LEASES = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}
SEALS: Table = ((1, "F_SEAL_SEAL"), (2, "F_SEAL_SHRINK"), (4, "F_SEAL_GROW"),
                (8, "F_SEAL_WRITE"), (0x10, "F_SEAL_FUTURE_WRITE"))  # fmt: skip
DNOTIFY: Table = (
    (1, "DN_ACCESS"), (2, "DN_MODIFY"), (4, "DN_CREATE"), (8, "DN_DELETE"), (0x10, "DN_RENAME"),
    (0x20, "DN_ATTRIB"), (0x80000000, "DN_MULTISHOT"),
)  # fmt: skip
SEEK = {0: "SEEK_SET", 1: "SEEK_CUR", 2: "SEEK_END", 3: "SEEK_DATA", 4: "SEEK_HOLE"}
FLOCK: Table = ((1, "LOCK_SH"), (2, "LOCK_EX"), (4, "LOCK_NB"), (8, "LOCK_UN"),
                (32, "LOCK_MAND"), (64, "LOCK_READ"), (128, "LOCK_WRITE"))  # fmt: skip
O_CLOEXEC_ONLY: Table = ((0o2000000, "O_CLOEXEC"),)
PIPE2: Table = ((0o200, "O_NOTIFICATION_PIPE"), (0o4000, "O_NONBLOCK"), (0o40000, "O_DIRECT"),
                (0o2000000, "O_CLOEXEC"))  # fmt: skip
EVENTFD: Table = ((1, "EFD_SEMAPHORE"), (0o2000000, "EFD_CLOEXEC"), (0o4000, "EFD_NONBLOCK"))
EPOLL_CREATE: Table = ((0o2000000, "EPOLL_CLOEXEC"),)
EPOLL_CTL = {1: "EPOLL_CTL_ADD", 2: "EPOLL_CTL_DEL", 3: "EPOLL_CTL_MOD"}
INOTIFY_INIT: Table = ((0o4000, "IN_NONBLOCK"), (0o2000000, "IN_CLOEXEC"))
SIGNALFD: Table = ((0o4000, "SFD_NONBLOCK"), (0o2000000, "SFD_CLOEXEC"))
TIMERFD_CREATE: Table = ((0o4000, "TFD_NONBLOCK"), (0o2000000, "TFD_CLOEXEC"))
TIMERFD_SETTIME: Table = ((1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET"))
CLOSE_RANGE: Table = ((2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC"))

# --- futex -------------------------------------------------------------------

FUTEX_CMDS = {
    0: "FUTEX_WAIT", 1: "FUTEX_WAKE", 2: "FUTEX_FD", 3: "FUTEX_REQUEUE",
    4: "FUTEX_CMP_REQUEUE", 5: "FUTEX_WAKE_OP", 6: "FUTEX_LOCK_PI", 7: "FUTEX_UNLOCK_PI",
    8: "FUTEX_TRYLOCK_PI", 9: "FUTEX_WAIT_BITSET", 10: "FUTEX_WAKE_BITSET",
    11: "FUTEX_WAIT_REQUEUE_PI", 12: "FUTEX_CMP_REQUEUE_PI", 13: "FUTEX_LOCK_PI2",
}  # fmt: skip
FUTEX_PRIVATE_FLAG = 128
FUTEX_CLOCK_REALTIME = 256


def _futex_op(v: int) -> str:
    v &= MASK32
    name = FUTEX_CMDS.get(v & 0x7F)
    if name is None:
        return unknown(v, "FUTEX_")
    if v & FUTEX_PRIVATE_FLAG:
        name += "_PRIVATE"
    rest = v & ~(0x7F | FUTEX_PRIVATE_FLAG)
    if rest & FUTEX_CLOCK_REALTIME:
        name += "|FUTEX_CLOCK_REALTIME"
        rest &= ~FUTEX_CLOCK_REALTIME
    return f"{name}|{hex(rest)}" if rest else name


futex_op = memo(_futex_op)


def futex_shown(op: int) -> tuple[int, ...]:
    """Which of futex's six arguments strace prints for an operation."""
    cmd = op & 0x7F
    if cmd in (1, 2):  # WAKE, FD
        return (0, 1, 2)
    if cmd == 0:  # WAIT
        return (0, 1, 2, 3)
    if cmd == 9:  # WAIT_BITSET
        return (0, 1, 2, 3, 5)
    if cmd == 10:  # WAKE_BITSET
        return (0, 1, 2, 5)
    if cmd in (6, 13):  # LOCK_PI
        return (0, 1, 3)
    if cmd in (7, 8):  # UNLOCK_PI, TRYLOCK_PI
        return (0, 1)
    if cmd == 11:  # WAIT_REQUEUE_PI
        return (0, 1, 2, 3, 4)
    if cmd == 3:  # REQUEUE
        return (0, 1, 2, 3, 4)
    return (0, 1, 2, 3, 4, 5)


def futex_val3(v: int) -> str:
    v &= MASK32
    return "FUTEX_BITSET_MATCH_ANY" if v == MASK32 else hex(v) if v else "0"


# --- sockets -----------------------------------------------------------------

AF = {
    0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
    6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6", 11: "AF_ROSE",
    12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY", 16: "AF_NETLINK",
    17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC", 21: "AF_RDS", 22: "AF_SNA",
    23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE", 26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS",
    29: "AF_CAN", 30: "AF_TIPC", 31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC",
    34: "AF_ISDN", 35: "AF_PHONET", 36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG",
    39: "AF_NFC", 40: "AF_VSOCK", 41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP",
    45: "AF_MCTP",
}  # fmt: skip
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 1, 2, 10, 16, 17
SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
              5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}  # fmt: skip
SOCK_FLAGS: Table = ((0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK"))


def _socket_type(v: int) -> str:
    v &= MASK32
    t = SOCK_TYPES.get(v & 0xF)
    out = [t if t else unknown(v & 0xF, "SOCK_")]
    rest = v & ~0xF
    for bit, name in SOCK_FLAGS:
        if rest & bit:
            out.append(name)
            rest &= ~bit
    if rest:
        out.append(unknown(rest, "SOCK_"))
    return "|".join(out)


socket_type = memo(_socket_type)
sock_flags = memo(lambda v: "|".join(bits_text(v & MASK32, SOCK_FLAGS)) or "0")

IPPROTO = {
    0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 4: "IPPROTO_IPIP", 6: "IPPROTO_TCP",
    8: "IPPROTO_EGP", 12: "IPPROTO_PUP", 17: "IPPROTO_UDP", 22: "IPPROTO_IDP", 29: "IPPROTO_TP",
    33: "IPPROTO_DCCP", 41: "IPPROTO_IPV6", 46: "IPPROTO_RSVP", 47: "IPPROTO_GRE",
    50: "IPPROTO_ESP", 51: "IPPROTO_AH", 58: "IPPROTO_ICMPV6", 92: "IPPROTO_MTP",
    94: "IPPROTO_BEETPH", 98: "IPPROTO_ENCAP", 103: "IPPROTO_PIM", 108: "IPPROTO_COMP",
    132: "IPPROTO_SCTP", 136: "IPPROTO_UDPLITE", 137: "IPPROTO_MPLS", 143: "IPPROTO_ETHERNET",
    255: "IPPROTO_RAW", 262: "IPPROTO_MPTCP",
}  # fmt: skip
NETLINK = {
    0: "NETLINK_ROUTE", 1: "NETLINK_UNUSED", 2: "NETLINK_USERSOCK", 3: "NETLINK_FIREWALL",
    4: "NETLINK_SOCK_DIAG", 5: "NETLINK_NFLOG", 6: "NETLINK_XFRM", 7: "NETLINK_SELINUX",
    8: "NETLINK_ISCSI", 9: "NETLINK_AUDIT", 10: "NETLINK_FIB_LOOKUP", 11: "NETLINK_CONNECTOR",
    12: "NETLINK_NETFILTER", 13: "NETLINK_IP6_FW", 14: "NETLINK_DNRTMSG",
    15: "NETLINK_KOBJECT_UEVENT", 16: "NETLINK_GENERIC", 18: "NETLINK_SCSITRANSPORT",
    19: "NETLINK_ECRYPTFS", 20: "NETLINK_RDMA", 21: "NETLINK_CRYPTO", 22: "NETLINK_SMC",
}  # fmt: skip
ETH_P = {0x0003: "ETH_P_ALL", 0x0800: "ETH_P_IP", 0x0806: "ETH_P_ARP", 0x86DD: "ETH_P_IPV6",
         0x8100: "ETH_P_8021Q", 0x88CC: "ETH_P_LLDP"}  # fmt: skip


def socket_protocol(v: int, family: int) -> str:
    """socket's protocol, named by its family (IPPROTO_TCP, NETLINK_ROUTE, htons(ETH_P_ALL))."""
    v = as_s32(v)
    fam = family & MASK32
    if fam in (AF_INET, AF_INET6):
        return IPPROTO.get(v, str(v))
    if fam == AF_NETLINK:
        return NETLINK.get(v, str(v))
    if fam == AF_PACKET:
        host = ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)
        return f"htons({ETH_P.get(host, hex(host))})"
    return str(v)


MSG: Table = (
    (1, "MSG_OOB"), (2, "MSG_PEEK"), (4, "MSG_DONTROUTE"), (8, "MSG_CTRUNC"), (0x10, "MSG_PROBE"),
    (0x20, "MSG_TRUNC"), (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"), (0x100, "MSG_WAITALL"),
    (0x200, "MSG_FIN"), (0x400, "MSG_SYN"), (0x800, "MSG_CONFIRM"), (0x1000, "MSG_RST"),
    (0x2000, "MSG_ERRQUEUE"), (0x4000, "MSG_NOSIGNAL"), (0x8000, "MSG_MORE"),
    (0x10000, "MSG_WAITFORONE"), (0x40000, "MSG_BATCH"), (0x4000000, "MSG_ZEROCOPY"),
    (0x20000000, "MSG_FASTOPEN"), (0x40000000, "MSG_CMSG_CLOEXEC"),
)  # fmt: skip
SHUTDOWN = {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}
SOL = {0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6",
       58: "SOL_ICMPV6", 255: "SOL_RAW", 263: "SOL_PACKET", 270: "SOL_NETLINK",
       280: "SOL_ALG", 282: "SOL_TLS", 284: "SOL_MPTCP"}  # fmt: skip
SOCKOPTS: dict[int, dict[int, str]] = {
    1: {
        1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE",
        6: "SO_BROADCAST", 7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE",
        10: "SO_OOBINLINE", 11: "SO_NO_CHECK", 12: "SO_PRIORITY", 13: "SO_LINGER",
        14: "SO_BSDCOMPAT", 15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED",
        18: "SO_RCVLOWAT", 19: "SO_SNDLOWAT", 20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD",
        25: "SO_BINDTODEVICE", 26: "SO_ATTACH_FILTER", 27: "SO_DETACH_FILTER",
        29: "SO_TIMESTAMP_OLD", 30: "SO_ACCEPTCONN", 31: "SO_PEERSEC", 32: "SO_SNDBUFFORCE",
        33: "SO_RCVBUFFORCE", 34: "SO_PASSSEC", 36: "SO_MARK", 38: "SO_PROTOCOL",
        39: "SO_DOMAIN", 40: "SO_RXQ_OVFL", 46: "SO_BUSY_POLL", 47: "SO_MAX_PACING_RATE",
        49: "SO_INCOMING_CPU", 50: "SO_ATTACH_BPF", 59: "SO_PEERGROUPS", 60: "SO_ZEROCOPY",
        61: "SO_TXTIME", 62: "SO_BINDTOIFINDEX", 66: "SO_RCVTIMEO_NEW",
        67: "SO_SNDTIMEO_NEW",
    },
    6: {
        1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE", 5: "TCP_KEEPINTVL",
        6: "TCP_KEEPCNT", 7: "TCP_SYNCNT", 8: "TCP_LINGER2", 9: "TCP_DEFER_ACCEPT",
        10: "TCP_WINDOW_CLAMP", 11: "TCP_INFO", 12: "TCP_QUICKACK", 13: "TCP_CONGESTION",
        14: "TCP_MD5SIG", 18: "TCP_USER_TIMEOUT", 19: "TCP_REPAIR", 23: "TCP_FASTOPEN",
        25: "TCP_NOTSENT_LOWAT", 30: "TCP_FASTOPEN_CONNECT", 31: "TCP_ULP",
    },
    0: {
        1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 8: "IP_PKTINFO",
        10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 12: "IP_RECVTTL", 13: "IP_RECVTOS",
        14: "IP_MTU", 15: "IP_FREEBIND", 19: "IP_TRANSPARENT", 24: "IP_BIND_ADDRESS_NO_PORT",
        32: "IP_MULTICAST_IF", 33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP",
        35: "IP_ADD_MEMBERSHIP", 36: "IP_DROP_MEMBERSHIP",
    },
    41: {
        16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF", 18: "IPV6_MULTICAST_HOPS",
        19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP", 23: "IPV6_MTU_DISCOVER",
        24: "IPV6_MTU", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY", 49: "IPV6_RECVPKTINFO",
        67: "IPV6_TCLASS",
    },
}  # fmt: skip


def sockopt_name(v: int, level: int) -> str:
    v = as_s32(v)
    names = SOCKOPTS.get(as_s32(level))
    name = names.get(v) if names else None
    return name if name is not None else str(v)


# --- mounts --------------------------------------------------------------------

MOUNT: Table = (
    (1, "MS_RDONLY"), (2, "MS_NOSUID"), (4, "MS_NODEV"), (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"), (32, "MS_REMOUNT"), (64, "MS_MANDLOCK"), (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"), (1024, "MS_NOATIME"), (2048, "MS_NODIRATIME"), (4096, "MS_BIND"),
    (8192, "MS_MOVE"), (16384, "MS_REC"), (32768, "MS_SILENT"), (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"), (1 << 18, "MS_PRIVATE"), (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"), (1 << 21, "MS_RELATIME"), (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"), (1 << 24, "MS_STRICTATIME"), (1 << 25, "MS_LAZYTIME"),
)  # fmt: skip
UMOUNT: Table = ((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW"))


def flags_of(table: Sequence[tuple[int, str]], v: int, zero: str = "0") -> str:
    """One-off rendering of a flags value (not memoised; for return values)."""
    return "|".join(bits_text(v, table)) or zero
