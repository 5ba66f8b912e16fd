"""A real recording whose comm, paths, buffers and argv hold terminal controls
and invalid UTF-8 shows no raw control byte in any mode (eBPF, root).

The kernel side captures bytes as the program gave them; every form must show
them escaped (strace's octal escapes in text, `\\u00XX` in JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from showutil import DATA, check_shown, compile_c, record, show_child

pytestmark = pytest.mark.bpf

MODES = [[], ["--wide"], ["-o", "strace"], ["-o", "json"], ["--info"], ["--info", "-o", "json"],
         ["--summary"], ["--summary", "-o", "json"], ["--failed"], ["-s", "200", "-o", "strace"],
         ["-s", "200", "-o", "json"]]  # fmt: skip


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("escaping")
    exe = compile_c(DATA / "hostile_names.c", work / "hostile")
    return record([str(exe)], work / "dumps")


@pytest.mark.parametrize("mode", MODES, ids=" ".join)
def test_no_raw_control_byte_in_any_mode(dump: Path, mode: list[str]) -> None:
    res = show_child(*mode, str(dump))
    assert res.returncode == 0, res.stderr
    check_shown(mode, res)


def test_the_controls_are_there_escaped(dump: Path) -> None:
    strace = show_child("-s", "200", "-o", "strace", str(dump)).stdout.decode()
    evil = "\\33[2J\\33]0;pwned\\7\\r\\177\\302\\233\\377\\376"
    assert f'openat(AT_FDCWD, "/nonexistent/{evil}", O_RDONLY) = -1 ENOENT' in strace
    assert f'write(3, "buf{evil}\\0after-nul", 33) = 33' in strace
    assert f'"child", "{evil}", "a\\rb"]' in strace
    table = show_child("--wide", str(dump)).stdout.decode()
    assert " e\\33[2J\\r\ufffd " in table  # the comm: the recorder reads \\xff as U+FFFD
    lines = show_child("-o", "json", str(dump)).stdout.decode().splitlines()
    comms = {json.loads(line)["comm"] for line in lines}
    assert "e\x1b[2J\r\ufffd" in comms
