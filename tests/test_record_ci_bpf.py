"""`traceloop record` as CI uses it: fail open, shell exit statuses, signals,
the dump starting at the command's execve, dumps handed to the sudo user, and
no cgroup left behind. Real processes, real kernel."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bpfutil import table
from daemonutil import TRACELOOP, read

from sidecar.dump.records import NR, RET
from sidecar.host import cgroups

pytestmark = pytest.mark.bpf

AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
NOBODY = 65534
PY = "/usr/bin/python3"


def _default_signals() -> None:
    # The test runner may have been started with SIGINT ignored (a background
    # job): give traceloop what a terminal gives it.
    for s in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(s, signal.SIG_DFL)


def record(
    out: Path,
    *cmd: str,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, TRACELOOP, "record", "--out", str(out), *extra, "--", *cmd],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
        preexec_fn=_default_signals,
    )  # fmt: skip


def dumps(out: Path) -> list[Path]:
    return sorted(out.rglob("*.msgpack")) if out.exists() else []


def record_cgroup(pid: int) -> Path:
    parent = cgroups.create(cgroups.resolve_root(None), "traceloop")
    return parent.path / f"record-{pid}"


def warning_only(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("traceloop: warning: not recording (")
    assert lines[0].endswith("); running the command unrecorded")
    return lines[0]


# -- fail open --------------------------------------------------------------------


def test_as_nobody_the_command_runs_unrecorded_with_its_status(tmp_path: Path) -> None:
    out = tmp_path / "d"
    r = record(out, "sh", "-c", "echo ran; exit 3", prefix=tuple(AS_NOBODY))
    assert r.returncode == 3 and r.stdout == "ran\n"
    assert "needs root" in warning_only(r.stderr)
    assert not out.exists()


def test_require_recording_fails_closed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    r = record(tmp_path / "d", "touch", str(marker), extra=("--require-recording",),
               prefix=tuple(AS_NOBODY))  # fmt: skip
    assert r.returncode == 1 and not marker.exists()
    assert r.stderr.startswith("traceloop: error: recording needs root")
    assert len(r.stderr.strip().splitlines()) == 1


def _popen_record(out: Path, *cmd: str, extra: tuple[str, ...] = (),
                  env: dict[str, str] | None = None) -> subprocess.Popen[str]:  # fmt: skip
    return subprocess.Popen(
        [TRACELOOP, "record", "--out", str(out), *extra, "--", *cmd],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})}, preexec_fn=_default_signals,
    )  # fmt: skip


def test_a_failed_load_runs_the_command_and_leaves_no_cgroup(tmp_path: Path) -> None:
    broken = tmp_path / "bpf"
    broken.mkdir()
    (broken / "recorder.bpf.c").write_text("this is not C;\n")
    p = _popen_record(tmp_path / "d", "sh", "-c", "echo ran; exit 4",
                      env={"TRACELOOP_BPF_DIR": str(broken)})  # fmt: skip
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 4 and stdout == "ran\n"
    assert "loading the BPF program failed" in warning_only(stderr)
    assert not record_cgroup(p.pid).exists()


def bpf_programs_held(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            n += os.readlink(fd) == "anon_inode:bpf-prog"
        except OSError:
            continue  # closed meanwhile
    return n


def test_a_load_failing_after_the_compile_leaves_no_program_attached(tmp_path: Path) -> None:
    # The programs attach when bcc loads them; what fails after that (here the
    # chunk header's layout, which the loader checks against the C source)
    # must detach them, or every syscall on the machine pays for them while
    # CMD runs unrecorded.
    src = Path(__file__).resolve().parent.parent / "sidecar" / "kernel" / "bpf"
    moved = tmp_path / "bpf"
    shutil.copytree(src, moved)
    c = moved / "recorder.bpf.c"
    field = "    u32 calls;          // records it held when it was closed\n"
    assert field in c.read_text()
    c.write_text(c.read_text().replace(field, field + "    u64 extra;\n"))
    p = _popen_record(tmp_path / "d", "sleep", "3", env={"TRACELOOP_BPF_DIR": str(moved)})
    try:
        assert p.stderr is not None
        line = p.stderr.readline()  # the warning comes before CMD starts
        assert "layout mismatch" in line and line.endswith("running the command unrecorded\n")
        assert bpf_programs_held(p.pid) == 0
    finally:
        p.communicate(timeout=120)
    assert p.returncode == 0
    assert not record_cgroup(p.pid).exists()


def test_an_unknown_syscall_filter_runs_the_command_and_leaves_no_cgroup(tmp_path: Path) -> None:
    p = _popen_record(tmp_path / "d", "sh", "-c", "exit 5",
                      extra=("--syscall-filters", "openat,nosuchcall"))  # fmt: skip
    _, stderr = p.communicate(timeout=120)
    assert p.returncode == 5
    assert "unknown syscall 'nosuchcall'" in warning_only(stderr)
    assert not record_cgroup(p.pid).exists()


def test_the_cgroup_is_removed_when_the_command_leaves_a_process_running(tmp_path: Path) -> None:
    # The sleep lets go of record's pipes: record ends while it still runs.
    p = _popen_record(tmp_path / "d", "sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!")
    stdout, _ = p.communicate(timeout=120)
    left = int(stdout)
    try:
        assert p.returncode == 0
        os.kill(left, 0)  # still running, moved out of the cgroup
        assert not record_cgroup(p.pid).exists()
    finally:
        os.kill(left, signal.SIGKILL)


def test_a_killed_records_cgroup_is_removed_by_the_next_record(tmp_path: Path) -> None:
    # SIGKILL leaves record no chance to remove its cgroup: the next one does,
    # once the command has ended too; a populated one is left where it is.
    p = _popen_record(tmp_path / "d", "sleep", "60")
    try:
        assert p.stdout is not None
        cg = record_cgroup(p.pid)
        deadline = time.monotonic() + 60
        while not (cg.exists() and (cg / "cgroup.procs").read_text().split()):
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        [sleeper] = (cg / "cgroup.procs").read_text().split()
        p.kill()
        p.wait()
        assert record_cgroup(p.pid).exists()
        assert record(tmp_path / "d", "true").returncode == 0
        assert cg.exists()  # sleep still runs in it
        os.kill(int(sleeper), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (cg / "cgroup.procs").read_text().split():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert record(tmp_path / "d", "true").returncode == 0
        assert not cg.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if cg.exists():
            for pid in (cg / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)


def test_a_dump_that_cannot_be_written_keeps_the_commands_status(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # --out below a regular file cannot be created
    r = record(blocked / "d", "sh", "-c", "exit 6")
    assert r.returncode == 6
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("traceloop: error: no dump: ")


# -- the command, as a shell runs it ----------------------------------------------


def test_not_found_is_127_and_not_executable_126(tmp_path: Path) -> None:
    r = record(tmp_path / "d", "nonexistent-cmd")
    assert (r.returncode, r.stderr) == (127, "traceloop: nonexistent-cmd: command not found\n")
    r = record(tmp_path / "d", "/no/such/program")
    assert (r.returncode, r.stderr) == (
        127, "traceloop: /no/such/program: No such file or directory\n",
    )  # fmt: skip
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\nexit 0\n")
    r = record(tmp_path / "d", str(script))
    assert (r.returncode, r.stderr) == (126, f"traceloop: {script}: Permission denied\n")
    assert dumps(tmp_path / "d") == []


def test_the_dump_starts_at_the_commands_one_execve(tmp_path: Path) -> None:
    # A PATH search in the child would try each directory in turn.
    env = {"PATH": f"{tmp_path}/none-a:{tmp_path}/none-b:/usr/bin:/bin"}
    r = record(tmp_path / "d", "python3", "-c", "import sys; sys.exit(3)", env=env)
    assert r.returncode == 3, r.stderr
    [d] = dumps(tmp_path / "d")
    header, recs = read(d)
    names = [table().name(x[NR]) for x in recs]
    assert names[0] == "execve" and recs[0][RET] == 0
    assert names.count("execve") == 1
    assert header["counts"]["before_exec"] > 0  # the child's own calls, left out
    out = subprocess.run([TRACELOOP, "show", "-o", "strace", str(d)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.startswith('execve("/usr/bin/python3", ["python3", "-c", ')


def sig_ignored(argv: list[str], before_exec: Callable[[], None]) -> str:
    r = subprocess.run([*argv, "grep", "SigIgn", "/proc/self/status"], capture_output=True,
                       text=True, timeout=120, preexec_fn=before_exec)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout.split()[1]


def test_the_child_gets_the_signal_dispositions_record_was_given(tmp_path: Path) -> None:
    # What a command started without traceloop in between has ignored, and
    # what it has when record starts it: the same (SIG_IGN of the signals
    # record handles itself does not leak into it; what record's own caller
    # ignored, as nohup does SIGHUP, stays ignored).
    def ignoring_sighup() -> None:
        _default_signals()
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    rec = [TRACELOOP, "record", "--out", str(tmp_path / "d"), "--"]
    for before in (_default_signals, ignoring_sighup):
        assert sig_ignored(rec, before) == sig_ignored([], before)
    assert int(sig_ignored(rec, _default_signals), 16) & (1 << (signal.SIGINT - 1)) == 0
    assert int(sig_ignored(rec, ignoring_sighup), 16) & (1 << (signal.SIGHUP - 1))
    r = record(tmp_path / "d", PY, "-c", "import signal; print(signal.getsignal(signal.SIGINT))")
    assert r.stdout == "<built-in function default_int_handler>\n"


HANDLER = """
import signal, sys, time
got = []
for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
    signal.signal(s, lambda n, f: got.append(signal.Signals(n).name))
print("ready", flush=True)
deadline = time.monotonic() + 60
while not got and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.5)  # a second copy of the signal would arrive meanwhile
print(" ".join(got), flush=True)
sys.exit(10 + len(got))
"""


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT])
def test_signals_to_record_are_passed_on_once(tmp_path: Path, sig: signal.Signals) -> None:
    p = _popen_record(tmp_path / "d", PY, "-c", HANDLER)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "ready\n"
        p.send_signal(sig)
        stdout, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert stdout == f"{sig.name}\n" and p.returncode == 11
    assert not record_cgroup(p.pid).exists()


def test_a_terminals_ctrl_c_reaches_the_command_once(tmp_path: Path) -> None:
    # Ctrl-C on a terminal signals the whole foreground process group, the
    # command included: record must not pass on a second SIGINT.
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        _default_signals()
        os.execv(TRACELOOP, [TRACELOOP, "record", "-q", "--out", str(tmp_path / "d"), "--",
                             PY, "-c", HANDLER])  # fmt: skip
    out = b""
    try:
        deadline = time.monotonic() + 120
        while b"ready" not in out and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                out += os.read(fd, 1024)
        os.write(fd, b"\x03")  # the terminal's interrupt character
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # EIO: every process of the session ended
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 11, out
    # The terminal echoes ^C; the handler saw one SIGINT.
    assert out.split(b"ready", 1)[1].replace(b"^C", b" ").split() == [b"SIGINT"]


# -- dumps under sudo -----------------------------------------------------------------


def _owned_by_nobody(out: Path) -> Path:
    [d] = dumps(out)
    for p in (out, d.parent, d):
        assert (p.stat().st_uid, p.stat().st_gid) == (NOBODY, NOBODY), p
    return d


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory outside root's 0700 pytest tree, that nobody may enter."""
    d = Path(tempfile.mkdtemp(prefix="traceloop-ci-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def test_under_sudo_the_dump_belongs_to_the_invoking_user(shared_dir: Path) -> None:
    out = shared_dir / "ci" / "dumps"
    r = record(out, "sh", "-c", "exit 3", env={"SUDO_UID": str(NOBODY), "SUDO_GID": str(NOBODY)})
    assert r.returncode == 3
    d = _owned_by_nobody(out)
    assert (out.parent.stat().st_uid, out.parent.stat().st_gid) == (NOBODY, NOBODY)
    # What actions/upload-artifact does as the runner's user: read it.
    r = subprocess.run([*AS_NOBODY, TRACELOOP, "show", "--info", str(d)], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and "nonzero-exit" in r.stdout, r


def test_owner_option_and_existing_directories_kept(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()  # exists already: stays root's
    r = record(out, "sh", "-c", "exit 2", extra=("--owner", "nobody"))
    assert r.returncode == 2
    [d] = dumps(out)
    assert out.stat().st_uid == 0
    assert (d.stat().st_uid, d.parent.stat().st_uid) == (NOBODY, NOBODY)


def test_without_sudo_the_dump_stays_roots(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    r = subprocess.run([TRACELOOP, "record", "--out", str(tmp_path / "d"), "--", "false"],
                       capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert r.returncode == 1
    [d] = dumps(tmp_path / "d")
    assert d.stat().st_uid == 0 and d.stat().st_mode & 0o777 == 0o600
