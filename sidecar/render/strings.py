"""Captured memory as strace prints it, and as text for JSON.

strace's default quoting: printable ASCII as is; `"` and `\\` escaped;
\\t \\n \\v \\f \\r by name; every other byte in octal with as few digits as
possible, but three when the next byte shown is an octal digit (so `\\0` then
`7` reads as `\\0007`, not `\\07`). A string that continues past what is shown
gets `...` after the closing quote.
"""

from __future__ import annotations

_NAMED = {0x22: '\\"', 0x5C: "\\\\", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f",
          0x0D: "\\r"}  # fmt: skip

# Per byte: its escape when followed by a non-octal-digit, and when followed by one.
_SHORT: list[str] = []
_LONG: list[str] = []
for _c in range(256):
    if _c in _NAMED:
        _SHORT.append(_NAMED[_c])
        _LONG.append(_NAMED[_c])
    elif 0x20 <= _c < 0x7F:
        _SHORT.append(chr(_c))
        _LONG.append(chr(_c))
    else:
        _SHORT.append(f"\\{_c:o}")
        _LONG.append(f"\\{_c:03o}")

# Bytes that need no escape: deleting them from a string tells if any remain.
_PLAIN = bytes(c for c in range(0x20, 0x7F) if c not in _NAMED)
_OCTAL_DIGITS = frozenset(range(0x30, 0x38))

DEFAULT_LIMIT = 32  # strace -s


def escape(data: bytes) -> str:
    """The inside of strace's quotes for `data`."""
    if not data.translate(None, _PLAIN):
        return data.decode("ascii")
    out = []
    last = len(data) - 1
    for i, c in enumerate(data):
        if i < last and data[i + 1] in _OCTAL_DIGITS:
            out.append(_LONG[c])
        else:
            out.append(_SHORT[c])
    return "".join(out)


def quote(data: bytes, full_len: int, limit: int | None) -> str:
    """A buffer: at most `limit` bytes, `...` when the call's data was longer."""
    if limit is not None and len(data) > limit:
        data = data[:limit]
    s = '"' + escape(data) + '"'
    return s + "..." if full_len > len(data) else s


def quote_path(data: bytes, full_len: int) -> str:
    """A path: never cut by the limit (strace -s does not apply to file names),
    only where the recorder cut it; ends at a NUL like the kernel's copy."""
    nul = data.find(b"\0")
    if nul >= 0:
        return '"' + escape(data[:nul]) + '"'
    s = '"' + escape(data) + '"'
    return s + "..." if full_len > len(data) else s


def text(data: bytes) -> str:
    """Captured bytes for JSON: UTF-8, with invalid bytes as `\\xNN` text."""
    return data.decode("utf-8", "backslashreplace")


def path_text(data: bytes) -> str:
    nul = data.find(b"\0")
    return text(data if nul < 0 else data[:nul])


def argv_strings(data: bytes, full: int, count_max: int) -> tuple[list[bytes], bool]:
    """A captured argv: its strings, and whether anything is missing: more
    strings followed (or one could not be read), or a string filled its share
    of the capture and may have been cut. The kernel stores string j in the
    j-th of `count` equal parts of `data` and says `full` = count, or more
    than `count_max` when the array went on."""
    count = min(full, count_max)
    if count <= 0:
        return [], full > 0
    each = len(data) // count
    out = []
    cut = full > count_max
    for j in range(count):
        part = data[j * each : (j + 1) * each]
        nul = part.find(b"\0")
        out.append(part if nul < 0 else part[:nul])
        cut = cut or len(out[-1]) >= each - 1
    return out, cut


def quote_argv(data: bytes, full: int, count_max: int, limit: int | None) -> str:
    """`["sh", "-c", "exit 3"]` as strace writes argv, `...` after a string
    that filled its share of the capture (it may have been cut) and after the
    last string when more followed."""
    strings, _ = argv_strings(data, full, count_max)
    each = len(data) // max(1, min(full, count_max))
    items = [quote(a, len(a) + 1 if len(a) >= each - 1 else len(a), limit) for a in strings]
    if full > count_max:
        items.append("...")
    return "[" + ", ".join(items) + "]"
