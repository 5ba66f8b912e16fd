"""What every output form shares: options, the syscall lookup, the write loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .calls import Call
from .output import CHUNK, Output

Record = list[Any]


@dataclass(frozen=True)
class RenderOptions:
    limit: int | None = 32  # bytes of each buffer shown (strace -s); None: all captured
    color: bool = False
    width: int | None = None  # table: terminal columns; None: --wide, never cut
    file: str | None = None  # JSON: the dump's name, when several are shown


class Calls:
    """Syscall number -> Call, with unknown numbers made on first sight."""

    def __init__(self, calls: Mapping[int, Call]) -> None:
        self.calls = dict(calls)

    def get(self, nr: int) -> Call:
        c = self.calls.get(nr)
        if c is None:
            c = self.calls[nr] = Call.unknown(nr)
        return c


def pump(records: Iterable[Record], line: Callable[[Record], str], out: Output) -> None:
    """Render each record to one line (or a few, joined) and write it."""
    buf = out.buf
    append = buf.append
    for rec in records:
        append(line(rec))
        if len(buf) >= CHUNK:
            out.flush()
