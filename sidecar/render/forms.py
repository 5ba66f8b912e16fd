"""What every output form shares: options, the syscall lookup, the write loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.dump.syscalls import SyscallTable
from sidecar.render.calls import Call, arch_of
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
    syscalls and uses a few dozen), unknown numbers included."""

    def __init__(self, header: Mapping[str, Any]) -> None:
        self.arch = arch_of(header)
        self.table = SyscallTable.from_header(header)
        self.calls: dict[int, Call] = {}
        self.names = {nr: s.name for nr, s in self.table.by_nr.items()}

    def get(self, nr: int) -> Call:
        c = self.calls.get(nr)
        if c is None:
            s = self.table.by_nr.get(nr)
            if s is None:
                c = Call.unknown(nr)
            else:
                c = Call(s.name, [(p.name, p.type) for p in s.params], self.arch, s.captures)
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
