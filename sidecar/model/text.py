"""One escaping rule for every text a person sees: terminals, logs, Events.

Names, paths, comms and buffers come from workloads, and a raw control byte
in them would drive the reader's terminal (the class of kubectl's
CVE-2021-25743). As strace does for strings: printable text stays as it is
(other scripts too); tab, newline and the like become `\\t`, `\\n`...; any other
control character (C0, DEL, C1) or format character (bidi overrides,
zero-width marks) becomes `\\xNN` or `\\uNNNN`; a byte that is not UTF-8
(a name read with surrogateescape, or raw bytes) becomes `\\xNN`; and a
backslash is doubled, so that the result reads back unambiguously.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\v": "\\v", "\f": "\\f", "\\": "\\\\"}


def escape(s: str | bytes, quote: str = "") -> str:
    """`s` with nothing a terminal would act on; `quote` (e.g. `"`) escaped too."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "surrogateescape")
    if s.isprintable() and "\\" not in s and (not quote or quote not in s):
        return s  # the common case, at C speed
    out = []
    for ch in s:
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif ch == quote:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            o = ord(ch)
            if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
                out.append(f"\\x{o - 0xDC00:02x}")
            elif o <= 0xFF:
                out.append(f"\\x{o:02x}")
            else:
                out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
    return "".join(out)


def one_line(s: str | bytes, limit: int = 300) -> str:
    """`escape(s)`, cut to `limit` characters: for a value echoed in a message."""
    t = escape(s)
    return t if len(t) <= limit else t[: limit - 3] + "..."
