"""A real runc container's crash, as `show` tells it: the container's own
story first, the runtime's setup behind one line, and --info's crash summary.

One daemon records one container running `sh -c 'cat /nonexistent; exit 7'`;
every test reads the dump it wrote. What is expected is computed from the
dump's own records where it can be."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from daemonutil import TRACELOOP, daemon, read
from perfettoutil import load_trace
from runc import Runc
from test_perfetto import check_every_call

pytestmark = pytest.mark.bpf
RUNTIME_COMMS = {"runc", "runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]"}


@pytest.fixture(scope="module")
def exit7(runc: Runc, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sink = tmp_path_factory.mktemp("story") / "dumps"
    with daemon(runc.cgroup_root(), sink) as d:
        res = runc.run(["/bin/sh", "-c", "cat /nonexistent; exit 7"], name="exit7")
        assert res.returncode == 7, res.stderr
        [dump] = d.wait_dumps(1)
        d.stop()
    return dump


def show(*args: str) -> str:
    res = subprocess.run(
        [TRACELOOP, "show", "--color", "never", "--wide", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 0 and not res.stderr, res.stderr
    return res.stdout


def calls(dump: Path, *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in show("-o", "json", *args, str(dump)).splitlines()]


def test_info_names_the_containers_own_failure_and_exit_code(exit7: Path) -> None:
    text = show("--info", str(exit7)).splitlines()
    crash = text[next(i for i, ln in enumerate(text) if ln.startswith("crash")) :]
    assert crash[0].split(None, 1)[1] == "exited with 7"
    failed = [ln for ln in crash if ln.startswith(("  failed", " " * 6))]
    assert failed and not any("runc" in ln for ln in failed)
    assert any(
        'openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)' in ln
        for ln in failed
    ), crash
    info = json.loads(show("--info", "-o", "json", str(exit7)))["crash"]
    assert info["exit_code"] == 7 and info["thread"]["comm"] == "sh"
    opens = [c for c in info["failed"] if c["syscall"] == "openat"]
    assert [(c["comm"], c["args"]["filename"], c["errno"]) for c in opens] == [
        ("cat", "/nonexistent", "ENOENT")
    ]
    assert not any(c["comm"] in RUNTIME_COMMS for c in info["failed"])
    assert info["entrypoint"]["args"]["argv"] == ["/bin/sh", "-c", "cat /nonexistent; exit 7"]


def test_the_runtimes_setup_is_marked_and_left_out(exit7: Path) -> None:
    every = calls(exit7)
    setup = [c for c in every if c.get("runtime_setup")]
    own = [c for c in every if not c.get("runtime_setup")]
    # runc's init made most of the calls; none of the container's own is runc's.
    assert len(setup) > len(own) > 20
    assert {c["comm"] for c in setup} <= RUNTIME_COMMS | {"exe"}
    first = own[0]
    assert first["syscall"] == "execve" and first["args"]["filename"] == "/bin/sh"
    assert not any(c["comm"] in RUNTIME_COMMS for c in own if c["seq"] > first["seq"] + 1)

    lines = show("-o", "strace", str(exit7)).splitlines()
    assert lines[0] == (
        f"--- runtime setup (runc): {len(setup):,} calls not shown, "
        "--include-runtime shows them ---"
    )
    # Prefixed while runc's init threads live (as strace -f has it); the exec
    # ends them, so the shell's own calls that follow are not.
    assert re.match(
        r'\[pid +\d+\] execve\("/bin/sh", \["/bin/sh", "-c", "cat /nonexistent', lines[1]
    )
    assert not lines[2].startswith("[pid")
    assert len([ln for ln in lines[1:] if "+++" not in ln]) == len(own)
    lines = show("-o", "strace", "--include-runtime", str(exit7)).splitlines()
    assert "--- runtime setup (runc) above: " in "\n".join(lines)

    failed = calls(exit7, "--failed")
    assert failed == [c for c in own if c.get("errno")]  # signals have none
    assert any(c["syscall"] == "openat" and c["errno"] == "ENOENT" for c in failed)
    assert len(calls(exit7, "--failed", "--include-runtime")) > len(failed)
    summary = {r["syscall"]: r for r in calls(exit7, "--summary")}
    assert sum(r["calls"] for r in summary.values()) == len([c for c in own if "syscall" in c])


def test_perfetto_timeline_of_the_container(exit7: Path) -> None:
    header, recs = read(exit7)
    trace = load_trace(show("-o", "perfetto", str(exit7)))
    check_every_call(trace, header, recs)
    setup = {e["args"]["seq"] for e in trace["traceEvents"] if "runtime_setup" in e.get("cat", "")}
    assert setup == {c["seq"] for c in calls(exit7) if c.get("runtime_setup")}
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}
    assert {"runc:[2:INIT]", "sh", "cat"} <= names
