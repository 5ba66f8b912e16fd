"""The one place show writes: buffered lines to a binary stream, in UTF-8.

Lines are joined and written in chunks (one write per few thousand lines), and
encoded here rather than by the text layer, so a terminal in a non-UTF-8
locale gets `?` for a `…` instead of an exception.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any

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


# JSON escapes C0 controls but may write DEL and C1 controls (U+0080..U+009F,
# which some terminals read as CSI...) as they are; inside a JSON text both can
# only be in strings, where `\u00XX` means the same character.
_UNSAFE_IN_JSON = re.compile(rb"\x7f|\xc2[\x80-\x9f]")


def _u_escape(m: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(m.group().decode("utf-8"))


def json_safe(line: bytes) -> bytes:
    """UTF-8 JSON with DEL and C1 controls written as escapes."""
    if b"\x7f" in line or b"\xc2" in line:
        return _UNSAFE_IN_JSON.sub(_u_escape, line)
    return line


def json_text(obj: Any) -> str:
    """One compact, strict (no NaN or Infinity) JSON text, safe for a terminal."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("\x7f", "\\u007f")
