"""What every output form shares: options, the syscall lookup, the write loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sidecar.dump.syscalls import SyscallTable
from sidecar.render.calls import Call
from sidecar.render.output import CHUNK, Output

Record = list[Any]


@dataclass(frozen=True)
class RenderOptions:
    limit: int | None = 32  # bytes of each buffer shown (strace -s); None: all captured
    color: bool = False
    width: int | None = None  # table: terminal columns; None: --wide, never cut
    file: str | None = None  # JSON: the dump's name, when several are shown


class Calls:
    """Syscall number -> Call, each built on first sight (a dump names some 360
    syscalls and uses a few dozen), unknown numbers included.

    Memory stays bounded whatever the records hold: the table has at most
    schema.TABLE_MAX numbers, and a number it lacks (a program may call any)
    shares one set of decoders under its own name, remembered for the first
    UNKNOWN_MAX such numbers only."""

    UNKNOWN_MAX = 1024

    def __init__(self, table: SyscallTable, arch: str) -> None:
        self.arch = arch
        self.table = table
        self.calls: dict[int, Call] = {}
        self.names = {nr: s.name for nr, s in table.by_nr.items()}
        self._unknown: Call | None = None
        self._unknown_kept = 0

    def get(self, nr: int) -> Call:
        c = self.calls.get(nr)
        if c is not None:
            return c
        s = self.table.by_nr.get(nr)
        if s is not None:
            c = self.calls[nr] = Call(
                s.name, [(p.name, p.type) for p in s.params], self.arch, s.captures
            )
            return c
        if self._unknown is None:
            self._unknown = Call.unknown(0)
        c = self._unknown.renamed(f"syscall_{nr}")
        if self._unknown_kept < self.UNKNOWN_MAX:
            self._unknown_kept += 1
            self.calls[nr] = c
        return c


def pump(records: Iterable[Record], line: Callable[[Record], str], out: Output) -> None:
    """Render each record to one line (or a few, joined) and write it."""
    buf = out.buf
    append = buf.append
    for rec in records:
        append(line(rec))
        if len(buf) >= CHUNK:
            out.flush()
