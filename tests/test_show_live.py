"""`traceloop show` on a dump recorded just now from a real program (eBPF, root)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from showutil import DATA, TRACELOOP, compile_c, record

pytestmark = pytest.mark.bpf


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("live")
    exe = compile_c(DATA / "calls.c", work / "calls")
    return record([str(exe), str(work)], work / "dumps")


def show(*args: str) -> str:
    r = subprocess.run([TRACELOOP, "show", "--color", "never", *args], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stderr == "", r
    return r.stdout


def test_strace_lines(dump: Path) -> None:
    out = show("-o", "strace", str(dump))
    assert (
        'openat(AT_FDCWD, "/nonexistent/traceloop", O_RDONLY|O_CLOEXEC) = '
        "-1 ENOENT (No such file or directory)"
    ) in out
    assert "O_WRONLY|O_CREAT|O_TRUNC|O_APPEND, 0640) = 3" in out
    assert 'write(3, "hello\\n\\t\\"quoted\\" \\\\ \\1\\0377\\28\\377 end", 28)' in out
    assert 'write(3, "0123456789abcdefghijklmnopqrstuv"..., 36)' in out
    assert "connect(5, {sa_family=AF_INET, sin_port=htons(" in out
    assert 'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)' in out
    assert "socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 6" in out
    # The file written above: 28 + 36 bytes.
    assert 'newfstatat(3, "", {st_mode=S_IFREG|0640, st_size=64, ...}, AT_EMPTY_PATH) = 0' in out
    assert "[{WIFEXITED(s) && WEXITSTATUS(s) == 7}], 0, NULL) = " in out
    # Short lines are padded to strace's column of return values.
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert 'write(3, "", 0) = 0' in lines
    assert any(x.startswith("read(") and x.endswith(', "", 8) = 0') for x in lines)  # a pipe's end
    assert any(x.endswith(', "hi", 2, 0, NULL, 0) = 2') for x in lines)  # sendto() without address
    assert "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x" in out
    assert "kill(-99999, SIGUSR1)" in out and "ioctl(3, TCGETS, 0x" in out
    assert "exit_group(3)" in out and "+++ exited with 3 +++" in out


def test_table_and_json(dump: Path) -> None:
    table = show("--wide", "--syscall-filters", "connect", str(dump))
    head, *rows = table.splitlines()
    assert head.split()[0] == "CONTAINER" and rows
    assert rows[0].split()[0] == "calls"
    assert rows[0].endswith("-1 ECONNREFUSED (Connection refused)")
    objs = [json.loads(line) for line in show("-o", "json", "--failed", str(dump)).splitlines()]
    refused = [o for o in objs if o["errno"] == "ECONNREFUSED"]
    assert len(refused) == 1
    sa = refused[0]["args"]["uservaddr"]
    assert sa["family"] == "AF_INET" and sa["addr"] == "127.0.0.1" and sa["port"] > 0
    info = json.loads(show("--info", "-o", "json", str(dump)))
    assert info["read"]["complete"] and info["read"]["records"] >= len(objs)
    assert info["container"]["exit_status"] == 3


def test_execve_shows_argv(tmp_path: Path) -> None:
    long = "an-argument-longer-than-its-share-of-the-capture"
    dump = record(["/bin/sh", "-c", f"/bin/echo {long} 1 2 3 4 5 6 7 8 > /dev/null; exit 0"],
                  tmp_path / "dumps")  # fmt: skip
    lines = [x for x in show("-o", "strace", str(dump)).splitlines() if "execve(" in x]
    # 31 characters of each string and its NUL fill a 32-byte share of the capture.
    assert lines[0].startswith(
        'execve("/bin/sh", ["/bin/sh", "-c", "/bin/echo an-argument-longer-th"...], 0x'
    )
    # The child: eight strings captured, the ninth and on left out; the long one cut.
    [echo] = [x for x in lines if 'execve("/bin/echo"' in x]
    assert (
        '["/bin/echo", "an-argument-longer-than-its-sha"..., "1", "2", "3", "4", "5", "6", ...]'
        in echo
    )
    objs = [
        json.loads(x)
        for x in show("-o", "json", "--syscall-filters", "execve", str(dump)).splitlines()
    ]
    # Signals stay with a syscall filter (sh's SIGCHLD), as in strace.
    [child] = [o for o in objs if "signal" not in o and o["args"]["filename"] == "/bin/echo"]
    assert child["args"]["argv"] == ["/bin/echo", long[:31], "1", "2", "3", "4", "5", "6"]
    assert child["truncated"] == ["argv"]
