"""Inputs read again at syscall exit when their page was not mapped at entry.

tests/progs/fresh_path.c passes openat a string literal alone in its 64 KiB
of .rodata and a path in a fresh mapping of a file, neither touched before
the call (the recorder's read at entry fails: BPF cannot fault a page in),
and a pointer to unmapped memory, which no read can follow.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from showutil import TRACELOOP, record

from sidecar.dump.reader import read_all

pytestmark = pytest.mark.bpf


def shown(dump: Path, *args: str) -> list[str]:
    res = subprocess.run(
        [TRACELOOP, "show", *args, str(dump)], capture_output=True, text=True, check=True
    )
    return res.stdout.splitlines()


@pytest.fixture(scope="module")
def dump(progs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fresh")
    return record([str(progs / "fresh_path"), str(tmp / "pathfile")], tmp / "dumps")


def test_paths_in_pages_not_yet_touched_are_decoded(dump: Path) -> None:
    lines = [x for x in shown(dump, "-o", "strace") if x.startswith("openat(")]
    assert lines[-4].startswith('openat(AT_FDCWD, "/etc/traceloop-fresh/app.conf", O_RDONLY)')
    assert lines[-2].startswith(
        'openat(AT_FDCWD, "/nonexistent/traceloop-fresh-mapping", O_RDONLY)'
    )


def test_an_unreadable_path_shows_as_strace_shows_it(dump: Path) -> None:
    last = [x for x in shown(dump, "-o", "strace") if x.startswith("openat(")][-1]
    assert last == "openat(AT_FDCWD, 0x1, O_RDONLY)         = -1 EFAULT (Bad address)"


def test_json_gives_an_unreadable_capture_its_own_shape(dump: Path) -> None:
    calls: list[dict[str, Any]] = [json.loads(x) for x in shown(dump, "-o", "json")]
    opens = [c["args"]["filename"] for c in calls if c["syscall"] == "openat"]
    assert opens[-1] == {"unreadable": "0x1"}
    assert opens[-2] == "/nonexistent/traceloop-fresh-mapping"


def test_the_dump_marks_the_capture_and_the_failure_stays_counted(dump: Path) -> None:
    header, recs = read_all(dump.read_bytes(), str(dump))
    # [arg, kind, nil, full_len]: the kernel tried and could not read it.
    assert recs[-2][10] == [[1, 1, None, 0]]
    assert header["recorder"]["kernel_stats"]["capture_failures"] == 1
