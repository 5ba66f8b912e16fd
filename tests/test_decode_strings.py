"""Captured memory quoted as strace quotes it (checked against strace 6.1's output)."""

from __future__ import annotations

from sidecar.render.strings import (
    argv_strings,
    escape,
    path_text,
    quote,
    quote_argv,
    quote_path,
    text,
)


def test_printable_and_named_escapes() -> None:
    assert quote(b"hello", 5, 32) == '"hello"'
    assert escape(b'say "hi"\\') == 'say \\"hi\\"\\\\'
    assert escape(b"\t\n\v\f\r") == "\\t\\n\\v\\f\\r"


def test_octal_escapes_use_three_digits_only_before_an_octal_digit() -> None:
    # strace: write(1, "a\0\1\28\t\n\177"...) for b"a\x00\x01\x028\t\n\x7f"
    assert escape(b"a\x00\x01\x028\t\n\x7f") == "a\\0\\1\\28\\t\\n\\177"
    assert escape(b"\x1f7") == "\\0377"
    assert escape(b"\x007") == "\\0007"
    assert escape(b"\x008") == "\\08"
    assert escape(b"\x1b[1m") == "\\33[1m"
    assert escape(b"\x80\xff") == "\\200\\377"


def test_non_ascii_is_escaped_like_strace() -> None:
    assert escape("é".encode()) == "\\303\\251"


def test_limit_cuts_with_dots_after_the_quote() -> None:
    data = b"0123456789abcdefghijklmnopqrstuvwxyz"
    assert quote(data, 36, 32) == '"0123456789abcdefghijklmnopqrstuv"...'
    assert quote(data, 36, None) == '"0123456789abcdefghijklmnopqrstuvwxyz"'
    assert quote(data, 36, 0) == '""...'
    assert quote(b"abc", 3, 3) == '"abc"'


def test_recorder_cut_shows_dots_too() -> None:
    # read() returned 832 bytes; the recorder kept 4
    assert quote(b"\x7fELF", 832, 32) == '"\\177ELF"...'
    assert quote(b"", 0, 32) == '""'


def test_paths_ignore_the_limit_but_show_the_recorders_cut() -> None:
    long = b"/very/long/path/" + b"x" * 100
    assert quote_path(long, len(long)) == '"' + long.decode() + '"'
    assert quote_path(b"/cut/he", 300) == '"/cut/he"...'
    assert quote_path(b"/etc/passwd\0junk", 17) == '"/etc/passwd"'


def test_json_text() -> None:
    assert text(b"caf\xc3\xa9\n") == "café\n"
    assert text(b"\xff\x00a") == "\\xff\x00a"
    assert path_text(b"/x\0y") == "/x"


def argv_area(*strings: bytes, each: int = 8, junk: bytes = b"\xaa") -> bytes:
    """Strings as the kernel stores an argv: each cut to its share less the
    NUL that always ends it, junk (an older call's bytes) after the NUL."""
    return b"".join((s[: each - 1] + b"\0").ljust(each, junk) for s in strings)


def test_argv_as_strace_writes_it() -> None:
    data = argv_area(b"sh", b"-c", b"exit 3")
    assert quote_argv(data, 3, 8, None) == '["sh", "-c", "exit 3"]'
    assert argv_strings(data, 3, 8) == ([b"sh", b"-c", b"exit 3"], False)
    assert quote_argv(b"", 0, 8, None) == "[]"


def test_argv_cut_strings_and_more_strings_end_with_dots() -> None:
    data = argv_area(b"1234567", b"x" * 20, each=8)  # the second filled its share
    assert quote_argv(data, 2, 8, None) == '["1234567"..., "xxxxxxx"...]'
    assert argv_strings(data, 2, 8) == ([b"1234567", b"xxxxxxx"], True)
    eight = argv_area(*[b"a"] * 8)
    assert quote_argv(eight, 9, 8, None) == '["a", "a", "a", "a", "a", "a", "a", "a", ...]'
    assert argv_strings(eight, 9, 8)[1]
    assert quote_argv(argv_area(b"abcdef"), 1, 8, 3) == '["abc"...]'  # --string-limit
