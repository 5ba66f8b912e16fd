"""Text from outside (a dump, a task's comm, a cgroup or pod name) made safe to show.

`escape` is the one function every place that shows such text to a person
uses: show's table, --info and --summary, error messages, `traceloop ls`, the
daemon's text log and Kubernetes Event messages. Without it a name holding
ESC, CR or a C1 control (U+009B is CSI to many terminals) could rewrite the
terminal, hide lines or forge log entries (kubectl's CVE-2021-25743 is this
class of bug).

The rules are strace's for strings: `\\t \\n \\v \\f \\r` by name, a backslash
doubled, any other unsafe byte in octal with as few digits as possible (three
when an octal digit follows, so `\\0` then `7` reads `\\0007`). Unsafe: C0
controls, DEL, C1 controls, bytes that are not valid UTF-8, and the other code
points Python does not call printable (format characters such as bidi
overrides, separators other than the space, unassigned ones); a code point is
escaped as its UTF-8 bytes. Printable text, ASCII or not, is kept as it is.
"""

from __future__ import annotations

_NAMED = {"\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r", "\\": "\\\\"}
_OCTAL_DIGITS = frozenset("01234567")


def escape(s: str | bytes, limit: int | None = None) -> str:
    """`s` with every unsafe character escaped (module docstring); at most
    `limit` characters of it shown, then `...` when it was longer."""
    if isinstance(s, bytes):
        s = s.decode("utf-8", "surrogateescape")  # invalid bytes become U+DC80..U+DCFF
    cut = limit is not None and len(s) > limit
    if cut:
        s = s[:limit]
    if s.isprintable() and "\\" not in s:
        return s + "..." if cut else s
    out: list[str] = []
    last = len(s) - 1
    for i, ch in enumerate(s):
        named = _NAMED.get(ch)
        if named is not None:
            out.append(named)
        elif ch.isprintable():
            out.append(ch)
        else:
            long_form = i < last and s[i + 1] in _OCTAL_DIGITS
            out.append(_octal(_bytes_of(ch), long_form))
    text = "".join(out)
    return text + "..." if cut else text


def _bytes_of(ch: str) -> bytes:
    o = ord(ch)
    if 0xDC80 <= o <= 0xDCFF:  # an invalid byte, kept by surrogateescape
        return bytes([o - 0xDC00])
    return ch.encode("utf-8", "surrogatepass")


def _octal(data: bytes, long_last: bool) -> str:
    """Bytes as strace's octal escapes; the last one in three digits when an
    octal digit follows it (inner ones are followed by a backslash)."""
    parts = [f"\\{b:o}" for b in data[:-1]]
    b = data[-1]
    parts.append(f"\\{b:03o}" if long_last else f"\\{b:o}")
    return "".join(parts)
