"""Return values as strace shows them after `= `.

Most are plain decimal; addresses (mmap, brk...) in hex, umask's in octal,
fcntl's by its command; errors as `-1 ENOENT (No such file or directory)`
(Call.ret_text). exit and exit_group never return (`= ?`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sidecar.render import flags as F
from sidecar.render.special import fcntl_ret
from sidecar.render.values import MASK64, octal

RetFmt = Callable[[int, Sequence[int]], str]

NORETURN = frozenset({"exit", "exit_group"})  # strace: `= ?`
TABLE_X = frozenset({"exit", "exit_group", "rt_sigreturn"})  # traceloop's RET column: X


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


def ret_fmt(name: str, ix: Mapping[str, int], arch: str) -> RetFmt:
    """The return formatter of syscall `name` (parameter name -> index in `ix`)."""
    if name == "fcntl" and "cmd" in ix:
        fn = fcntl_ret(F.open_flags(F.open_table(arch)))
        ci = ix["cmd"]
        return lambda ret, a: fn(ret, a[ci])
    return RETS.get(name, _plain_ret)
