"""`traceloop record -- CMD` on real processes: automatic dumps, exit status passthrough."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from bpfutil import table
from daemonutil import TRACELOOP, read

from sidecar.dump.records import ARGS, CAPS, COMM, NR

pytestmark = pytest.mark.bpf


def record(
    tmp_path: Path, *cmd: str, extra: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACELOOP, "record", "--out", str(tmp_path / "d"), *extra, "--", *cmd],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )  # fmt: skip


def dumps(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "d").rglob("*.msgpack")) if (tmp_path / "d").exists() else []


def test_success_writes_nothing_and_passes_status(tmp_path: Path) -> None:
    r = record(tmp_path, "sh", "-c", "echo ok")
    assert r.returncode == 0 and r.stdout == "ok\n"
    assert dumps(tmp_path) == []


def test_nonzero_exit_is_dumped_with_the_commands_status(tmp_path: Path) -> None:
    r = record(tmp_path, "sh", "-c", "cat /no/such/file; exit 42")
    assert r.returncode == 42
    [d] = dumps(tmp_path)
    assert f"dump written to {d}" in r.stderr
    header, recs = read(d)
    assert header["triggers"][0]["reason"] == "nonzero-exit"
    assert header["container"]["exit_status"] == 42
    assert b"/no/such/file" in {c[2] for r in recs for c in r[CAPS]}


def test_a_failing_child_is_dumped_even_if_the_command_succeeds(tmp_path: Path) -> None:
    r = record(tmp_path, "sh", "-c", "cat /missing-in-child; true")
    assert r.returncode == 0
    [d] = dumps(tmp_path)
    header, recs = read(d)
    assert [t["comm"] for t in header["triggers"]] == ["cat"]
    # The window runs to the end of the command, not just to the child's failure.
    assert header["counts"]["after_freeze"] == 0
    assert recs[-1][COMM] == "sh" and table().name(recs[-1][NR]) == "exit_group"


def test_the_dump_is_named_by_the_commands_own_end(tmp_path: Path) -> None:
    # A child's nonzero exit comes first; the command is then killed.
    r = record(tmp_path, "sh", "-c", "/bin/false; kill -9 $$")
    assert r.returncode == 137
    [d] = dumps(tmp_path)
    assert "-fatal-signal-" in d.name
    header, _ = read(d)
    assert [t["reason"] for t in header["triggers"]] == ["nonzero-exit", "fatal-signal"]


def test_signal_death_is_128_plus_signal(progs: Path, tmp_path: Path) -> None:
    r = record(tmp_path, str(progs / "segv"))
    assert r.returncode == 139
    [d] = dumps(tmp_path)
    header, _ = read(d)
    assert header["triggers"][0]["signal"] == "SIGSEGV"


@pytest.mark.parametrize("sig", ["TERM", "PIPE", "INT"])
@pytest.mark.parametrize("btf", ["btf-walk", "helpers"])
def test_a_signal_that_dumps_no_core_is_named_as_sent(tmp_path: Path, sig: str, btf: str) -> None:
    """The kernel delivers such a signal (SIGTERM, SIGPIPE...) to the threads as
    SIGKILL; the trigger names the one sent, read from the process's exit state
    at BTF offsets. Without BTF (a file that is not one) it cannot: SIGKILL, as
    docs/kernel.md says."""
    env = {}
    if btf == "helpers":
        bogus = tmp_path / "not-btf"
        bogus.write_bytes(b"\0" * 64)
        env["TRACELOOP_VMLINUX_BTF"] = str(bogus)
    r = record(tmp_path, "sh", "-c", f"kill -{sig} $$", env=env)
    assert r.returncode == 128 + signal.Signals[f"SIG{sig}"]
    [d] = dumps(tmp_path)
    header, _ = read(d)
    [trigger] = [t for t in header["triggers"] if t["reason"] == "fatal-signal"]
    assert trigger["signal"] == (f"SIG{sig}" if btf == "btf-walk" else "SIGKILL")
    assert trigger["comm"] == "sh"


def test_always_and_github_annotation(tmp_path: Path) -> None:
    r = record(tmp_path, "true", extra=("--always",))
    assert r.returncode == 0 and len(dumps(tmp_path)) == 1
    r = record(tmp_path, "false", env={"GITHUB_ACTIONS": "true"})
    assert r.returncode == 1
    assert "::error title=traceloop dump::" in r.stdout


def test_usage_errors_are_one_line_and_run_nothing(tmp_path: Path) -> None:
    r = subprocess.run([TRACELOOP, "record"], capture_output=True, text=True)
    assert r.returncode == 2 and "no command given" in r.stderr
    # Wrong on any machine (unlike a syscall name this kernel may lack, which
    # fails open: tests/test_record_ci_bpf.py): a usage error before anything runs.
    marker = tmp_path / "ran"
    r = subprocess.run(
        [TRACELOOP, "record", "--slots", "1000", "--", "touch", str(marker)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2 and "power of two" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not marker.exists()
    r = subprocess.run([TRACELOOP, "record", "--owner", "no-such-user-here", "--", "true"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2 and "no such user 'no-such-user-here'" in r.stderr
    # A --sink that could never take the dump is said before the command runs,
    # not after it failed (it used to be found only when the dump was due).
    for sink, said in (
        ("s3://Bad_Name/p", "not a valid bucket name"),
        ("s3://", "no bucket name"),
        ("ftp://host/x", "unknown kind"),
    ):
        r = subprocess.run(
            [TRACELOOP, "record", "--sink", sink, "--", "sh", "-c", f"touch {marker}; exit 1"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert r.returncode == 2 and said in r.stderr, (sink, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and not marker.exists()


def test_no_buffers_keeps_paths_and_leaves_data_and_argv_out(tmp_path: Path) -> None:
    script = "echo TOKEN-abc > /dev/null; cat /no/such/file; exit 5"
    for extra in ((), ("--no-buffers",)):
        out = tmp_path / ("without" if extra else "with")
        r = record(out, "sh", "-c", script, extra=extra)
        assert r.returncode == 5
        [d] = dumps(out)
        header, recs = read(d)
        data = b"".join(c[2] for r in recs for c in r[CAPS])
        assert b"/no/such/file" in data  # paths stay either way
        assert (b"TOKEN-abc" in data) == (not extra)  # argv (and the echo's write)
        assert header["recorder"]["buffers"] == (not extra)
        # Nowhere in the file either: the header keeps only the program's name.
        assert (b"TOKEN-abc" in d.read_bytes()) == (not extra)
        assert header["container"]["command"] == (["sh"] if extra else ["sh", "-c", script])


def test_no_buffers_leaves_iovec_and_message_bytes_out(tmp_path: Path) -> None:
    # The secrets are built at run time, so the command line does not hold them.
    prog = (
        "import os, socket\n"
        "a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "t = b'TOK' + b'EN-'\n"
        "os.writev(a.fileno(), [t, b'iov'])\n"
        "a.sendmsg([t + b'msg'])\n"
        "b.recv(64)\n"
        "b.recvmsg(64)\n"
        "os._exit(6)\n"
    )
    for extra in ((), ("--no-buffers",)):
        out = tmp_path / ("without" if extra else "with")
        r = record(out, "python3", "-c", prog, extra=extra)
        assert r.returncode == 6
        [d] = dumps(out)
        header, recs = read(d)
        names = {int(k): v[0] for k, v in header["syscalls"].items()}
        caps = {names[r[NR]]: r[CAPS] for r in recs if names.get(r[NR]) in ("writev", "sendmsg")}
        data = b"".join(c[2] for r in recs for c in r[CAPS])
        for token in (b"TOKEN-iov", b"TOKEN-msg"):
            assert (token in data) == (not extra), token
            assert (token in d.read_bytes()) == (not extra), token
        assert (caps["writev"] == []) == bool(extra)
        assert [c[1] for c in caps["sendmsg"]] == [12]  # the header stays
        out_text = subprocess.run([TRACELOOP, "show", "-o", "strace", str(d)],
                                  capture_output=True, text=True, check=True).stdout  # fmt: skip
        sent = 'msg_iov=[{iov_base="TOKEN-msg", iov_len=9}]'
        assert (sent in out_text) == (not extra)


def test_classic_tracepoints_record_the_same_calls(tmp_path: Path) -> None:
    # The kernel side built without raw tracepoints (older kernels, or by choice).
    r = record(
        tmp_path, "sh", "-c", "cat /no/such/file; exit 4", extra=("--tracepoints", "classic")
    )
    assert r.returncode == 4
    [d] = dumps(tmp_path)
    header, _ = read(d)
    assert header["recorder"]["raw_tracepoints"] is False
    out = subprocess.run([TRACELOOP, "show", "-o", "strace", str(d)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    argv = '["sh", "-c", "cat /no/such/file; exit 4"]'
    assert any(
        x.startswith("execve(") and argv in x and x.endswith(" = 0") for x in out.splitlines()
    )
    assert 'openat(AT_FDCWD, "/no/such/file", O_RDONLY) = -1 ENOENT' in out
    assert "exit_group(4)" in out


def test_a_syscall_filter_without_exit_group_keeps_the_exit_trigger(tmp_path: Path) -> None:
    # The filter decides what is recorded for the user, never what the
    # triggers see: `exit 3` is still a nonzero exit, and its exit_group is
    # still the dump's last call (show's `+++ exited with 3 +++`).
    r = record(tmp_path, "sh", "-c", "exit 3", extra=("--syscall-filters", "openat"))
    assert r.returncode == 3
    [d] = dumps(tmp_path)
    header, recs = read(d)
    [trigger] = header["triggers"]
    assert trigger["reason"] == "nonzero-exit" and trigger["exit_code"] == 3
    names = {table().name(r[NR]) for r in recs}
    assert names <= {"openat", "exit", "exit_group"}
    assert table().name(recs[-1][NR]) == "exit_group"
    shown = subprocess.run(
        [TRACELOOP, "show", "-o", "strace", str(d)], capture_output=True, text=True, check=True
    ).stdout
    assert shown.splitlines()[-2:] == ["exit_group(3)                           = ?",
                                       "+++ exited with 3 +++"]  # fmt: skip


FUTEX_C = r"""
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int word = 0;
    struct timespec ts = {0, 1000};
    for (int i = 0; i < 3; i++) // the fourth register: a leftover, not a timeout
        syscall(SYS_futex, &word, FUTEX_WAKE, 1, (void *)5, NULL, 0);
    syscall(SYS_futex, &word, FUTEX_WAIT, 0, &ts, NULL, 0); // ETIMEDOUT
    return 1;
}
"""


def test_futex_timeout_is_read_only_for_waiting_operations(tmp_path: Path) -> None:
    src = tmp_path / "futex.c"
    src.write_text(FUTEX_C)
    subprocess.run(["gcc", "-O1", "-o", str(tmp_path / "futex"), str(src)], check=True)
    assert record(tmp_path, str(tmp_path / "futex")).returncode == 1
    [d] = dumps(tmp_path)
    header, recs = read(d)
    names = {int(k): v[0] for k, v in header["syscalls"].items()}
    futex = [r for r in recs if names[r[NR]] == "futex"]
    wakes = [r for r in futex if r[ARGS][1] == 1]  # FUTEX_WAKE
    waits = [r for r in futex if r[ARGS][1] == 0]  # FUTEX_WAIT
    assert len(wakes) == 3 and all(r[CAPS] == [] for r in wakes)
    assert [[c[2] for c in r[CAPS]] for r in waits] == [[bytes(8) + (1000).to_bytes(8, "little")]]
    assert header["recorder"]["kernel_stats"]["capture_failures"] == 0
