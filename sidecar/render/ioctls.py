"""ioctl request names (the common terminal, socket, file and block ones).

Unknown requests print as strace does, decoded into `_IOC(dir, type, nr, size)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.render.values import MASK32, memo, ptr, xlong

IOCTLS: dict[int, str] = {
    0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF", 0x5405: "TCGETA",
    0x5406: "TCSETA", 0x5407: "TCSETAW", 0x5408: "TCSETAF", 0x5409: "TCSBRK", 0x540A: "TCXONC",
    0x540B: "TCFLSH", 0x540C: "TIOCEXCL", 0x540D: "TIOCNXCL", 0x540E: "TIOCSCTTY",
    0x540F: "TIOCGPGRP", 0x5410: "TIOCSPGRP", 0x5411: "TIOCOUTQ", 0x5412: "TIOCSTI",
    0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x5415: "TIOCMGET", 0x5416: "TIOCMBIS",
    0x5417: "TIOCMBIC", 0x5418: "TIOCMSET", 0x5419: "TIOCGSOFTCAR", 0x541A: "TIOCSSOFTCAR",
    0x541B: "FIONREAD", 0x541C: "TIOCLINUX", 0x541D: "TIOCCONS", 0x541E: "TIOCGSERIAL",
    0x541F: "TIOCSSERIAL", 0x5420: "TIOCPKT", 0x5421: "FIONBIO", 0x5422: "TIOCNOTTY",
    0x5423: "TIOCSETD", 0x5424: "TIOCGETD", 0x5425: "TCSBRKP", 0x5427: "TIOCSBRK",
    0x5428: "TIOCCBRK", 0x5429: "TIOCGSID", 0x802C542A: "TCGETS2", 0x402C542B: "TCSETS2",
    0x402C542C: "TCSETSW2", 0x402C542D: "TCSETSF2", 0x80045430: "TIOCGPTN",
    0x40045431: "TIOCSPTLCK", 0x80045432: "TIOCGDEV", 0x80045438: "TIOCGPKT",
    0x80045439: "TIOCGPTLCK", 0x80045440: "TIOCGEXCL", 0x5441: "TIOCGPTPEER",
    0x5450: "FIONCLEX", 0x5451: "FIOCLEX", 0x5452: "FIOASYNC", 0x5460: "FIOQSIZE",
    0x8901: "FIOSETOWN", 0x8902: "SIOCSPGRP", 0x8903: "FIOGETOWN", 0x8904: "SIOCGPGRP",
    0x8905: "SIOCATMARK", 0x8906: "SIOCGSTAMP", 0x890B: "SIOCADDRT", 0x890C: "SIOCDELRT",
    0x8910: "SIOCGIFNAME", 0x8912: "SIOCGIFCONF", 0x8913: "SIOCGIFFLAGS",
    0x8914: "SIOCSIFFLAGS", 0x8915: "SIOCGIFADDR", 0x8916: "SIOCSIFADDR",
    0x8917: "SIOCGIFDSTADDR", 0x8919: "SIOCGIFBRDADDR", 0x891B: "SIOCGIFNETMASK",
    0x891C: "SIOCSIFNETMASK", 0x8921: "SIOCGIFMTU", 0x8922: "SIOCSIFMTU", 0x8923: "SIOCSIFNAME",
    0x8924: "SIOCSIFHWADDR", 0x8927: "SIOCGIFHWADDR", 0x8933: "SIOCGIFINDEX",
    0x8942: "SIOCGIFTXQLEN", 0x8946: "SIOCETHTOOL", 0x40049409: "FICLONE",
    0xC0045877: "FIFREEZE", 0xC0045878: "FITHAW", 0x80086601: "FS_IOC_GETFLAGS",
    0x40086602: "FS_IOC_SETFLAGS", 0x80087601: "FS_IOC_GETVERSION", 0x80081272: "BLKGETSIZE64",
    0x1260: "BLKGETSIZE", 0x1261: "BLKFLSBUF", 0x125F: "BLKRRPART", 0x125E: "BLKROGET",
    0x1268: "BLKSSZGET", 0x127B: "BLKPBSZGET", 0x1277: "BLKDISCARD", 0x1278: "BLKIOMIN",
    0x1279: "BLKIOOPT", 0x4C00: "LOOP_SET_FD", 0x4C01: "LOOP_CLR_FD",
    0x4C04: "LOOP_SET_STATUS64", 0x4C05: "LOOP_GET_STATUS64", 0x4C82: "LOOP_CTL_GET_FREE",
    0xB701: "NS_GET_USERNS", 0xB702: "NS_GET_PARENT", 0xB703: "NS_GET_NSTYPE",
    0xB704: "NS_GET_OWNER_UID", 0x2400: "PERF_EVENT_IOC_ENABLE",
    0x2401: "PERF_EVENT_IOC_DISABLE", 0x2403: "PERF_EVENT_IOC_RESET",
    0x400454CA: "TUNSETIFF", 0x800454D2: "TUNGETIFF", 0x80045200: "RNDGETENTCNT",
}  # fmt: skip

# Requests whose argument is a plain int, and those that take none.
_INT_ARG = frozenset({0x5409, 0x540A, 0x540B, 0x5425, 0x540E})
_NO_ARG = frozenset({0x5450, 0x5451, 0x5422, 0x540C, 0x540D, 0x5427, 0x5428, 0x541D})

_IOC_DIRS = {0: "_IOC_NONE", 1: "_IOC_WRITE", 2: "_IOC_READ", 3: "_IOC_READ|_IOC_WRITE"}


def _x(v: int) -> str:
    return hex(v) if v else "0"


def _request(v: int) -> str:
    v &= MASK32
    name = IOCTLS.get(v)
    if name is not None:
        return name
    d, size, typ, nr = v >> 30, (v >> 16) & 0x3FFF, (v >> 8) & 0xFF, v & 0xFF
    return f"_IOC({_IOC_DIRS[d]}, {_x(typ)}, {_x(nr)}, {_x(size)})"


request = memo(_request)


def ioctl_arg(v: int, req: int) -> str:
    req &= MASK32
    if req in _INT_ARG:
        return str(v & MASK32)
    if req in IOCTLS:
        return ptr(v)
    return xlong(v)


def ioctl_shown(req: int, nargs: int) -> Sequence[int] | None:
    return (0, 1) if req & MASK32 in _NO_ARG else None
