"""strace's `-e trace=EXPR`: which syscalls a view keeps.

EXPR is strace's: a comma list of names (`open,close`), numbers, classes
(`%file`, `%process`, `%net`... and the old `file`, `process`...), and
`/REGEX` (matched anywhere in the name, like strace's POSIX extended regex);
`?` before a token lets it match nothing; leading `!` inverts the whole list;
`all` and `none` stand alone. Class membership is strace's own
(sidecar/render/strace_classes.py), by syscall number on the architectures
whose tables it holds (x86_64, aarch64), else by name. A name means the
dump's name for the number and strace's (`fstat` and the kernel's `newfstat`
are one call on x86_64).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from sidecar.model.errors import UsageError
from sidecar.render import strace_classes

# strace's basic_filters.c: class name -> the sysent flag it selects.
CLASSES = {
    "%desc": "TD", "%file": "TF", "%memory": "TM", "%process": "TP", "%creds": "TC",
    "%signal": "TS", "%ipc": "TI", "%net": "TN", "%network": "TN", "%stat": "TST",
    "%lstat": "TLST", "%fstat": "TFST", "%%stat": "TSTA", "%statfs": "TSF",
    "%fstatfs": "TFSF", "%%statfs": "TSFA", "%pure": "PU", "%clock": "TCL",
    # legacy names, still accepted by strace
    "desc": "TD", "file": "TF", "memory": "TM", "process": "TP", "signal": "TS",
    "ipc": "TI", "network": "TN",
}  # fmt: skip
_TABLES = {"x86_64": strace_classes.X86_64, "aarch64": strace_classes.AARCH64}


@dataclass(frozen=True)
class Entry:
    name: str
    flags: frozenset[str]


@cache
def strace_table(arch: str) -> dict[int, Entry]:
    """strace's number -> (name, class flags) for `arch`; empty if it has none here."""
    out: dict[int, Entry] = {}
    for line in _TABLES.get(arch, "").split("\n"):
        if line:
            nr, name, *flags = line.split(" ")
            out[int(nr)] = Entry(name, frozenset(flags[0].split("|")) if flags else frozenset())
    return out


@cache
def _flags_by_name() -> dict[str, frozenset[str]]:
    """For a dump of another architecture: strace's flags by name (x86_64's first)."""
    out: dict[str, frozenset[str]] = {}
    for arch in reversed(list(_TABLES)):
        out.update({e.name: e.flags for e in strace_table(arch).values()})
    return out


@dataclass(frozen=True)
class SyscallSet:
    """Syscall numbers, or (inverted) every number but these."""

    nrs: frozenset[int]
    inverted: bool = False

    def __contains__(self, nr: object) -> bool:
        return (nr in self.nrs) != self.inverted


def parse_trace(expr: str, names: Mapping[int, str], arch: str) -> SyscallSet:
    """The set EXPR selects among the dump's syscalls (`names`: number -> name).

    Errors, as strace's, name the token: `invalid system call 'opn'`."""
    s = expr
    inverted = False
    while s.startswith("!"):
        inverted = not inverted
        s = s[1:]
    if s == "none":
        return SyscallSet(frozenset(), inverted)
    if s == "all":
        return SyscallSet(frozenset(), not inverted)
    tokens = s.split(",")
    if not s or not all(tokens):
        raise UsageError(f"-e trace: invalid system call {expr!r}")
    known = _Known(names, arch)
    nrs: set[int] = set()
    for token in tokens:
        optional = token.startswith("?")
        token = token.lstrip("?")
        found = known.select(token)
        if found is None and not optional:
            raise UsageError(f"-e trace: invalid system call {token!r}")
        nrs.update(found or ())
    return SyscallSet(frozenset(nrs), inverted)


class _Known:
    """The dump's syscalls, with strace's names and flags for each number."""

    def __init__(self, names: Mapping[int, str], arch: str) -> None:
        table = strace_table(arch)
        by_name = _flags_by_name()
        self.names: dict[int, set[str]] = {}
        self.flags: dict[int, frozenset[str]] = {}
        for nr, name in names.items():
            entry = table.get(nr)
            self.names[nr] = {name} | ({entry.name} if entry else set())
            self.flags[nr] = entry.flags if entry else by_name.get(name, frozenset())
        # Names strace knows for this architecture (or any, when it has no table):
        # valid in EXPR even where this dump's table lacks them.
        self.strace_names = {e.name for e in table.values()} or set(by_name)

    def select(self, token: str) -> set[int] | None:
        """The numbers `token` selects; None if it is not a syscall strace knows."""
        if token[:1].isdigit():
            if not token.isdigit():
                return None
            return {int(token)}
        if token.startswith("/"):
            try:
                rx = re.compile(token[1:])
            except re.error as e:
                raise UsageError(f"-e trace: {token!r}: {e}") from None
            hit = {nr for nr, ns in self.names.items() if any(rx.search(n) for n in ns)}
            return hit if hit or any(map(rx.search, self.strace_names)) else None
        if token.lower() in CLASSES or token.lower() == "all":
            flag = CLASSES.get(token.lower())
            return {nr for nr, f in self.flags.items() if flag is None or flag in f}
        hit = {nr for nr, ns in self.names.items() if token in ns}
        if not hit and token.startswith("syscall_") and token[8:].isdigit():
            return {int(token[8:])}  # how show names a number the table lacks
        return hit if hit or token in self.strace_names else None
