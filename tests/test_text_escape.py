"""sidecar.model.text.escape: strace's rules for text a person sees."""

from __future__ import annotations

from sidecar.model.text import escape


def test_printable_text_is_kept() -> None:
    for s in ["abc", "café 日本", "a b-c_d.e/f:g", ""]:
        assert escape(s) == s


def test_controls_del_c1_and_invalid_utf8_are_escaped_like_strace() -> None:
    assert escape("a\x1b[2J\x07b\rc\nd\te") == "a\\33[2J\\7b\\rc\\nd\\te"
    assert escape("\x7f\x9b") == "\\177\\302\\233"  # DEL, then CSI as its UTF-8 bytes
    assert escape(b"\xff\xfeok\xc3\xa9") == "\\377\\376oké"
    assert escape("\x007") == "\\0007"  # three digits when an octal digit follows
    assert escape("\x008") == "\\08"
    assert escape("x\\y") == "x\\\\y"  # a backslash doubled: escapes stay unambiguous
    assert escape("\u202eevil") == "\\342\\200\\256evil"  # a bidi override


def test_a_limit_cuts_long_text() -> None:
    assert escape("a" * 20, 5) == "aaaaa..."
    assert escape("\x1b" * 20, 2) == "\\33\\33..."
    assert escape("abc", 5) == "abc"
