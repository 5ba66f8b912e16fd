"""The errno table is Linux's, and renders as strace renders it."""

from __future__ import annotations

import errno
import os

from sidecar.render.errnos import ERRNOS, errno_name, errno_text, is_error, strace_error

# Linux has two names for these numbers; strace (and so show) prints the first.
STRACE_NAMES = {11: "EAGAIN", 35: "EDEADLK", 95: "EOPNOTSUPP"}


def test_table_is_linuxs_own() -> None:
    checked = 0
    for num, name in errno.errorcode.items():
        assert num in ERRNOS, name
        ours, text = ERRNOS[num]
        assert ours == STRACE_NAMES.get(num, name)
        assert getattr(errno, ours) == num
        assert text == os.strerror(num)
        checked += 1
    assert checked > 120


def test_names_and_texts() -> None:
    assert (errno_name(2), errno_text(2)) == ("ENOENT", "No such file or directory")
    assert errno_name(13) == "EACCES"
    assert errno_text(13) == "Permission denied"  # not ENOENT's text (the gadget's bug)
    assert errno_name(111) == "ECONNREFUSED"
    assert errno_name(4000) == "E4000"
    assert errno_text(4000) == "Unknown error 4000"


def test_strace_rendering() -> None:
    assert strace_error(2) == "-1 ENOENT (No such file or directory)"
    assert strace_error(111) == "-1 ECONNREFUSED (Connection refused)"
    # The kernel's restart codes never reach the program: strace shows `?`.
    assert strace_error(512) == "? ERESTARTSYS (To be restarted if SA_RESTART is set)"
    assert strace_error(516) == "? ERESTART_RESTARTBLOCK (Interrupted by signal)"
    assert strace_error(524) == "-1 ENOTSUPP (Unknown error 524)"


def test_error_range() -> None:
    assert is_error(-1) and is_error(-4095)
    assert not is_error(0) and not is_error(-4096) and not is_error(3)
