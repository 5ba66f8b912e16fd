"""The one place show writes: buffered lines to a binary stream, in UTF-8.

Lines are joined and written in chunks (one write per few thousand lines), and
encoded here rather than by the text layer, so a terminal in a non-UTF-8
locale gets `?` for a `…` instead of an exception.
"""

from __future__ import annotations

from typing import IO

CHUNK = 2048
RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


class Output:
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.buf: list[str] = []

    def flush(self) -> None:
        if self.buf:
            self.buf.append("")
            self.stream.write("\n".join(self.buf).encode("utf-8", "replace"))
            self.buf.clear()
        self.stream.flush()

    def lines(self, lines: list[str]) -> None:
        self.buf.extend(lines)
        if len(self.buf) >= CHUNK:
            self.flush()
