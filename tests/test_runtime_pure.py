"""Runtime setup told apart from a container's own calls, on hand-built records.

The records follow what runc, crun and `traceloop record` leave in a dump
(the real runc case is in test_story_bpf.py); the header and its syscall
table are a real recording's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from showutil import fixture, json_lines, make_dump, show

from sidecar.dump.captures import ARGV_N, Kind
from sidecar.dump.syscalls import SyscallTable
from sidecar.render.calls import arch_of
from sidecar.render.forms import Calls
from sidecar.render.runtime import RuntimeMarker, SetupRecord

ENOENT, EPERM = -2, -1
HEADER, _ = fixture("calls")
TABLE = SyscallTable.from_wire(HEADER["syscalls"], HEADER["captures"])
NR = {s.name: s.nr for s in TABLE.by_nr.values()}


def daemon_header() -> dict[str, Any]:
    """A daemon's dump: no before_exec count."""
    return {**HEADER, "counts": {"recorded": 0, "overwritten": 0, "total": 0}, "triggers": []}


class Recs:
    """Builds records in order: seq and ts count up (100 µs apart)."""

    def __init__(self) -> None:
        self.recs: list[list[Any]] = []

    def add(
        self, pid: int, comm: str, name: str, ret: int | None = 0, *, tid: int | None = None,
        caps: list[list[Any]] | None = None, dur: int | None = 500, ts: int | None = None,
    ) -> list[Any]:  # fmt: skip
        n = len(self.recs) + 1
        rec = [n, ts if ts is not None else 1_000_000 + n * 100_000, dur if ret is not None else None,
               0, pid, tid or pid, comm, NR[name], [0] * 6, ret, caps or []]  # fmt: skip
        self.recs.append(rec)
        return rec

    def execve(
        self, pid: int, comm: str, path: bytes, argv: list[bytes], ret: int = 0, dur: int = 50_000
    ) -> list[Any]:
        return self.add(pid, comm, "execve", ret, caps=exec_caps(path, argv), dur=dur)


def exec_caps(path: bytes, argv: list[bytes]) -> list[list[Any]]:
    each = 32
    data = b"".join(a[: each - 1].ljust(each, b"\0") for a in argv[:ARGV_N])
    return [[0, int(Kind.STR), path + b"\0", len(path) + 1], [1, int(Kind.ARGV), data, len(argv)]]


def marks(header: dict[str, Any], recs: list[list[Any]]) -> tuple[list[bool], RuntimeMarker]:
    m = RuntimeMarker.for_dump(header, Calls(TABLE, arch_of(header)))
    return [isinstance(r, SetupRecord) for r in m.mark(recs)], m


def runc_like() -> Recs:
    """runc's init re-executed, its three stages, Go threads, then the entrypoint."""
    r = Recs()
    r.add(100, "runc", "read", 16)
    r.execve(100, "runc", b"/proc/self/exe", [b"runc", b"init"])  # the runtime's own re-exec
    r.add(100, "exe", "brk", 0x1000)  # renamed by the exec until runc renames it again
    r.add(100, "runc:[0:PARENT]", "clone", 101)
    r.add(101, "runc:[1:CHILD]", "clone", 102)
    r.add(102, "runc:[2:INIT]", "openat", EPERM)
    r.add(102, "runc:[2:INIT]", "futex", 0, tid=103)
    r.execve(102, "runc:[2:INIT]", b"/bin/sh", [b"/bin/sh", b"-c", b"cat /x; exit 7"])
    # entered before the exec returned
    r.add(102, "runc:[2:INIT]", "nanosleep", 0, tid=103, ts=r.recs[-1][1] + 10_000)
    r.add(102, "sh", "brk", 0x2000)
    r.add(104, "cat", "openat", ENOENT)
    r.add(102, "sh", "exit_group", None)
    return r


SETUP_RUNC = [True] * 7 + [False, True, False, False, False]


def test_runc_setup_ends_at_the_entrypoint_execve() -> None:
    got, m = marks(daemon_header(), runc_like().recs)
    assert got == SETUP_RUNC
    assert m.entry is not None and (m.entry.pid, m.entry.filename) == (102, b"/bin/sh")
    assert m.setup == 8 and m.started


def test_a_straggler_after_the_exec_returned_is_the_containers() -> None:
    r = runc_like()
    r.recs[8][1] = r.recs[7][1] + r.recs[7][2]  # entered just as the execve returned
    got, _ = marks(daemon_header(), r.recs)
    assert got[8] is False


def test_crun_path_search_is_setup() -> None:
    r = Recs()
    r.add(200, "crun", "mount", 0)
    r.execve(200, "crun", b"/usr/local/bin/app", [b"app"], ret=ENOENT)  # execvpe's search
    r.execve(200, "crun", b"/usr/bin/app", [b"app"])
    r.add(200, "app", "openat", ENOENT)
    got, m = marks(daemon_header(), r.recs)
    assert got == [True, True, False, False]
    assert m.entry is not None and m.entry.filename == b"/usr/bin/app"


def test_a_record_dump_has_no_setup() -> None:
    """`traceloop record -- runc run ...`: the command itself is no setup."""
    r = Recs()
    r.execve(300, "traceloop", b"/usr/sbin/runc", [b"runc", b"run", b"x"])
    r.add(300, "runc", "openat", ENOENT)
    header = {**HEADER, "counts": {"recorded": 2, "before_exec": 40}}
    assert marks(header, r.recs)[0] == [False, False]


def test_a_window_that_lost_the_setup_and_a_later_runc_exec() -> None:
    r = Recs()
    r.add(400, "nginx", "accept4", ENOENT)
    r.add(401, "runc:[2:INIT]", "openat", EPERM)  # `runc exec` into the running container
    r.execve(401, "runc:[2:INIT]", b"/bin/ls", [b"ls"])
    got, m = marks(daemon_header(), r.recs)
    assert got == [False, False, False] and m.setup == 0


def test_entrypoint_that_never_ran() -> None:
    r = Recs()
    r.add(500, "runc:[2:INIT]", "newfstatat", ENOENT)
    r.add(500, "runc:[2:INIT]", "write", 60)
    got, m = marks(daemon_header(), r.recs)
    assert got == [True, True] and not m.started and m.entry is None


# --- what show prints ---------------------------------------------------------


@pytest.fixture
def runc_dump(tmp_path: Path) -> Path:
    return make_dump(tmp_path / "runc.msgpack", daemon_header(), runc_like().recs)


def test_strace_leaves_setup_out_behind_one_line(
    runc_dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = show(capsys, "-o", "strace", str(runc_dump))
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == (
        "--- runtime setup (runc): 8 calls not shown, --include-runtime shows them ---"
    )
    # runc's parent and child never exit in these records: still traced, so the
    # entrypoint's line is prefixed, as strace -f would have it.
    assert lines[1].startswith('[pid   102] execve("/bin/sh", ["/bin/sh", "-c", "cat /x; exit 7"]')
    assert len(lines) == 1 + SETUP_RUNC.count(False)
    assert "runc" not in "\n".join(lines[2:]) and "nanosleep" not in out


def test_include_runtime_shows_setup_above_the_line(
    runc_dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for form in ("strace", "table"):
        _, out, _ = show(capsys, "-o", form, "--include-runtime", "--wide", str(runc_dump))
        lines = [ln for ln in out.splitlines() if not ln.startswith(("TIME", "CONTAINER"))]
        sep = lines.index(
            "--- runtime setup (runc) above: 7 calls; the container's own calls follow ---"
        )
        assert sep == 7 and "execve" in lines[sep + 1] and "/bin/sh" in lines[sep + 1]
        assert len(lines) == len(SETUP_RUNC) + 1


def test_failed_and_summary_count_the_containers_own(
    runc_dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = show(capsys, "-o", "strace", "--failed", str(runc_dump))
    first, *rest = out.splitlines()
    assert first.startswith("--- runtime setup (runc): 1 call not shown")
    assert len(rest) == 1 and rest[0].endswith("= -1 ENOENT (No such file or directory)")
    _, out, _ = show(capsys, "-o", "json", "--failed", str(runc_dump))
    assert [o["errno"] for o in json_lines(out)] == ["ENOENT"]
    _, out, _ = show(capsys, "-o", "json", "--failed", "--include-runtime", str(runc_dump))
    got = [(o["errno"], o.get("runtime_setup", False)) for o in json_lines(out)]
    assert got == [("EPERM", True), ("ENOENT", False)]
    _, out, _ = show(capsys, "--summary", "-o", "json", str(runc_dump))
    rows = {o["syscall"]: o for o in json_lines(out)}
    assert rows["openat"]["calls"] == 1 and "clone" not in rows and "futex" not in rows
    _, out, _ = show(capsys, "--summary", str(runc_dump))
    assert out.splitlines()[-1] == (
        "(runtime setup left out: 8 calls; --include-runtime counts them)"
    )
    _, out, _ = show(capsys, "--summary", "--include-runtime", "-o", "json", str(runc_dump))
    assert sum(o["calls"] for o in json_lines(out)) == len(SETUP_RUNC)


def test_json_lists_every_call_and_marks_setup(
    runc_dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = show(capsys, "-o", "json", str(runc_dump))
    assert [o.get("runtime_setup", False) for o in json_lines(out)] == SETUP_RUNC
    assert all(o.get("runtime_setup", True) is True for o in json_lines(out))


def test_entrypoint_never_ran_is_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = Recs()
    r.add(500, "runc:[2:INIT]", "newfstatat", ENOENT)
    r.add(500, "runc:[2:\x1b]0;x\x07", "write", 60)  # a name is shown escaped
    path = make_dump(tmp_path / "never.msgpack", daemon_header(), r.recs)
    _, out, _ = show(capsys, "-o", "strace", str(path))
    assert out.splitlines() == [
        "--- runtime setup (runc): 2 calls not shown, --include-runtime shows them; "
        "the entrypoint never ran ---"
    ]
    _, out, _ = show(capsys, "-o", "table", "--include-runtime", "--wide", str(path))
    assert out.splitlines()[-1] == (
        "--- runtime setup (runc) above: 2 calls; the entrypoint never ran ---"
    )
    assert "\x1b" not in out and "\\33]0;x\\7" in out


def test_last_counts_the_containers_own_calls(
    runc_dump: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = show(capsys, "-o", "json", "--failed", "--last", "5", str(runc_dump))
    assert len(json_lines(out)) == 1
    _, out, _ = show(capsys, "-o", "strace", "--last", "2", str(runc_dump))
    assert "runtime setup" not in out and len(out.splitlines()) == 2


def test_an_exec_ends_the_other_threads_of_its_process_for_the_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The kernel ends a process's other threads during a successful execve, and
    they make no exit call: strace -f stops prefixing once only one thread is
    left, and so does show (every line after the exec kept its `[pid N]`)."""
    header = {**HEADER, "counts": {"recorded": 0, "total": 0, "before_exec": 0}, "triggers": []}
    r = Recs()
    r.add(200, "app", "futex", 0)
    r.add(200, "app", "futex", 0, tid=201)
    r.execve(200, "app", b"/bin/true", [b"true"])
    r.add(200, "true", "brk", 0x1000)
    r.add(200, "true", "exit_group", None)
    dump = make_dump(tmp_path / "exec.msgpack", header, r.recs)
    status, out, _ = show(capsys, "-o", "strace", str(dump))
    lines = out.splitlines()
    assert status == 0 and len(lines) == 5
    assert lines[0].startswith("futex(")  # one thread traced so far
    assert lines[1].startswith("[pid   201] futex(") and lines[2].startswith("[pid   200] execve(")
    assert lines[3].startswith("brk(") and lines[4].startswith("exit_group(")
