"""`show --info`'s crash summary on hand-built dumps (the real runc crash is in
test_story_bpf.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from showutil import make_dump, show
from test_runtime_pure import ENOENT, EPERM, Recs, daemon_header, runc_like


def crash_rows(out: str) -> list[str]:
    lines = out.splitlines()
    return lines[next(i for i, ln in enumerate(lines) if ln.startswith("crash")) :]


def dump(tmp_path: Path, recs: Recs, **header: Any) -> Path:
    return make_dump(tmp_path / "d.msgpack", {**daemon_header(), **header}, recs.recs)


def test_exit_code_thread_and_own_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = {"reason": "nonzero-exit", "source": "kernel", "ts_ns": 1, "pid": 102, "tid": 102,
         "comm": "sh", "exit_code": 7}  # fmt: skip
    path = dump(tmp_path, runc_like(), triggers=[t, {**t, "reason": "container-exit"}])
    _, out, _ = show(capsys, "--info", str(path))
    rows = crash_rows(out)
    assert rows[0].split(None, 1)[1] == "exited with 7"
    assert rows[1].split(None, 1)[1] == "pid 102 (sh)"
    assert rows[2].startswith("  last call") and "exit_group(" in rows[2]
    assert rows[3].startswith("  entrypoint") and 'execve("/bin/sh"' in rows[3]
    assert rows[4].split(None, 1)[1].startswith("8 calls (runc) before the entrypoint's execve")
    assert rows[5].startswith("  failed") and "ENOENT" in rows[5] and len(rows) == 6
    _, out, _ = show(capsys, "--info", "-o", "json", str(path))
    crash = json.loads(out)["crash"]
    assert [c["errno"] for c in crash["failed"]] == ["ENOENT"]
    assert crash["runtime_setup"]["calls"] == 8 and crash["siginfo"] is None


def test_a_fatal_signal_prints_its_siginfo_when_the_trigger_has_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Recs()
    r.execve(600, "traceloop", b"/bin/app", [b"app"])
    r.add(600, "app", "openat", ENOENT)
    r.add(600, "app", "futex", None, tid=601)
    t = {"reason": "fatal-signal", "source": "kernel", "ts_ns": 1, "pid": 600, "tid": 601,
         "comm": "worker\x1b[2J", "signal": "SIGSEGV", "si_code": "SEGV_MAPERR",
         "addr": 0}  # fmt: skip
    path = dump(tmp_path, r, triggers=[t])
    _, out, _ = show(capsys, "--info", str(path))
    rows = crash_rows(out)
    assert rows[0].split(None, 1)[1] == "killed by SIGSEGV"
    assert rows[1].split(None, 1)[1] == "{si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0}"
    assert rows[2].split(None, 1)[1] == "pid 600 tid 601 (worker\\33[2J)"
    assert "futex(" in rows[3] and rows[3].endswith("<unfinished ...>")
    assert not any(r.startswith("  runtime") for r in rows)
    _, out, _ = show(capsys, "--info", "-o", "json", str(path))
    crash = json.loads(out)["crash"]
    assert crash["siginfo"] == {"si_signo": "SIGSEGV", "si_code": "SEGV_MAPERR", "si_addr": 0}
    assert crash["thread"] == {"pid": 600, "tid": 601, "comm": "worker\x1b[2J"}


def test_an_entrypoint_that_never_ran_shows_the_runtimes_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Recs()
    r.add(500, "runc:[2:INIT]", "newfstatat", ENOENT)
    r.add(500, "runc:[2:INIT]", "openat", EPERM)
    r.add(500, "runc:[2:INIT]", "exit_group", None)
    t = {"reason": "nonzero-exit", "source": "kernel", "ts_ns": 1, "pid": 500,
         "comm": "runc:[2:INIT]", "exit_code": 1}  # fmt: skip
    _, out, _ = show(capsys, "--info", str(dump(tmp_path, r, triggers=[t])))
    rows = crash_rows(out)
    assert "the entrypoint never ran" in next(r for r in rows if r.startswith("  runtime"))
    failed = [r for r in rows if "= -1 E" in r]
    assert rows.index(failed[0]) and rows[rows.index(failed[0])].startswith("  failed (runtime)")
    assert ["ENOENT" in failed[0], "EPERM" in failed[1]] == [True, True]


def test_no_trigger_and_nothing_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = Recs()
    r.execve(700, "traceloop", b"/bin/true", [b"true"])
    _, out, _ = show(capsys, "--info", str(dump(tmp_path, r, triggers=[], container={})))
    assert crash_rows(out) == [
        "crash         no trigger recorded",
        "  entrypoint  " + out.split("  entrypoint  ")[1].splitlines()[0],
        "  failed      none of the container's own calls failed",
    ]
