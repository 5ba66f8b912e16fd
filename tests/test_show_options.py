"""Filters, windows, colours, limits and the table's identity columns.

Expected sets are computed from the dump's records, never written down."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from showutil import TRACELOOP, fixture, json_lines, make_dump, show

from sidecar.dump.records import COMM, NR, PID, RET, TID, TS
from sidecar.render.calls import build

FAILED_LINE = re.compile(r"= (-1|\?) E[A-Z0-9_]+ \(")


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[list[Any]]]:
    header, records = fixture("sh-cat")
    path = make_dump(tmp_path_factory.mktemp("sh") / "sh.msgpack", header, records)
    return path, header, records


def names(header: dict[str, Any]) -> dict[int, str]:
    return {nr: c.name for nr, c in build(header).items()}


def failed(rec: list[Any]) -> bool:
    return rec[RET] is not None and -4095 <= rec[RET] < 0


def test_failed(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, records = sh
    _, out, _ = show(capsys, "-o", "strace", "--failed", str(path))
    calls = [line for line in out.splitlines() if "+++" not in line]
    assert calls and all(FAILED_LINE.search(line) for line in calls)
    assert len(calls) == sum(map(failed, records))
    _, out, _ = show(capsys, "-o", "json", "--failed", str(path))
    assert all(o["errno"] and o["ret"] < 0 for o in json_lines(out))


def test_syscall_pid_tid_comm_filters(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, header, records = sh
    by_nr = names(header)
    _, out, _ = show(capsys, "-o", "json", "--syscall-filters", "openat,write", str(path))
    got = json_lines(out)
    assert {o["syscall"] for o in got} == {"openat", "write"}
    assert len(got) == sum(by_nr[r[NR]] in ("openat", "write") for r in records)
    pids = sorted({r[PID] for r in records})
    assert len(pids) > 1
    _, out, _ = show(capsys, "-o", "json", "--pid", str(pids[1]), str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if r[PID] == pids[1]]
    tid = records[-1][TID]
    _, out, _ = show(capsys, "-o", "json", "--tid", f"{tid},999999", str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if r[TID] == tid]
    _, out, _ = show(capsys, "-o", "json", "--comm", "cat", "--failed", str(path))
    want = [r[0] for r in records if r[COMM] == "cat" and failed(r)]
    assert want and [o["seq"] for o in json_lines(out)] == want


def test_last(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, records = sh
    _, out, _ = show(capsys, "-o", "json", "--last", "7", str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records[-7:]]
    _, out, _ = show(capsys, "-o", "json", "--last", "3", "--failed", str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if failed(r)][-3:]
    _, out, _ = show(capsys, "-o", "json", "--last", "100000", str(path))
    assert len(json_lines(out)) == len(records)


def test_since_counts_back_from_the_trigger(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, header, records = sh
    trig = header["triggers"][0]["ts_ns"]
    _, out, _ = show(capsys, "-o", "json", "--since", "2ms", str(path))
    want = [r[0] for r in records if r[TS] >= trig - 2_000_000]
    assert 0 < len(want) < len(records)
    assert [o["seq"] for o in json_lines(out)] == want


def test_since_without_trigger_counts_back_from_the_last_call(
    sh: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, header, records = sh
    path = make_dump(tmp_path / "nt.msgpack", {**header, "triggers": []}, records)
    _, out, _ = show(capsys, "-o", "json", "--since", "500us", str(path))
    last = max(r[TS] for r in records)
    want = [r[0] for r in records if r[TS] >= last - 500_000]
    assert 0 < len(want) < len(records)
    assert [o["seq"] for o in json_lines(out)] == want


def test_strace_trigger_lines_follow_the_filters(
    sh: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path, header, _ = sh
    trig = header["triggers"]
    _, out, _ = show(capsys, "-o", "strace", str(path))
    assert out.count("+++ exited with") == len(trig)
    _, out, _ = show(capsys, "-o", "strace", "--pid", str(trig[0]["pid"]), str(path))
    assert out.count("+++ exited with") == 1
    _, out, _ = show(capsys, "-o", "strace", "--last", "2", str(path))
    assert "+++" not in out  # the triggers came before the last two calls


def test_string_limit(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = sh[0]
    _, out, _ = show(
        capsys, "-o", "strace", "-s", "4", "--syscall-filters", "write,openat", str(path)
    )
    assert 'write(2, "cat:"..., 5)' in out
    assert '"/usr/share/locale/locale.alias"' in out  # paths are never cut
    _, out, _ = show(capsys, "-o", "strace", "--syscall-filters", "read", str(path))
    bufs = re.findall(r'read\(\d+, ("(?:[^"\\]|\\.)*")', out)
    assert bufs and max(len(b.encode().decode("unicode_escape")) for b in bufs) <= 34
    _, out, _ = show(capsys, "-o", "json", "--syscall-filters", "read", str(path))
    longest = max(
        len(o["args"]["buf"]) for o in json_lines(out) if isinstance(o["args"]["buf"], str)
    )
    assert longest > 32  # JSON: all the captured bytes unless -s is given


def test_color(
    sh: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = sh[0]
    _, out, _ = show(capsys, "--color", "always", "-o", "strace", str(path))
    red = [line for line in out.splitlines() if line.startswith("\x1b[31m")]
    assert red and all(FAILED_LINE.search(line) for line in red)
    assert len(red) == sum(bool(FAILED_LINE.search(line)) for line in out.splitlines())
    _, out, _ = show(capsys, "--color", "always", "--wide", str(path))
    assert "\x1b[31m" in out and "\x1b[1m" in out.splitlines()[0]
    for opts in (["--color", "never"], ["--color", "auto"]):  # auto: not a terminal here
        _, out, _ = show(capsys, *opts, "-o", "strace", str(path))
        assert "\x1b[" not in out
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True, raising=False)
    _, out, _ = show(capsys, "--color", "auto", "-o", "strace", str(path))
    assert "\x1b[" not in out


def test_kubernetes_columns(sh: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, header, records = sh
    pod = {"node": "node-7", "namespace": "shop", "name": "cart-5f7d9", "container": "cart",
           "uid": "u-1", "container_id": "c-1", "image": "cart:1.2"}  # fmt: skip
    path = make_dump(tmp_path / "k8s.msgpack", {**header, "pod": pod}, records[:20])
    _, out, _ = show(capsys, "--wide", str(path))
    head, *rows = out.splitlines()
    assert head.split()[:4] == ["K8S.NODE", "K8S.NAMESPACE", "K8S.PODNAME", "K8S.CONTAINERNAME"]
    assert "CONTAINER " not in head
    assert all(row.split()[:4] == ["node-7", "shop", "cart-5f7d9", "cart"] for row in rows)
    _, out, _ = show(capsys, "--wide", str(sh[0]))
    assert out.split()[0] == "CONTAINER" and out.splitlines()[1].split()[0] == "env"


def test_unfinished_and_exit(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, header, records = sh
    by_nr = names(header)
    unfinished = [
        r for r in records if r[RET] is None and by_nr[r[NR]] not in ("exit_group", "exit")
    ]
    assert unfinished  # `sleep 0.2 &` was still sleeping when the window was frozen
    _, out, _ = show(capsys, "-o", "strace", str(path))
    assert out.count("<unfinished ...>") == len(unfinished)
    assert re.search(r"exit_group\(3\) +=  ?\?", out)
    _, out, _ = show(capsys, "--wide", str(path))
    assert sum(line.endswith(" unfinished") for line in out.splitlines()) == len(unfinished)
    assert sum(line.split()[-1] == "X" for line in out.splitlines()) == sum(
        by_nr[r[NR]] in ("exit_group", "exit", "rt_sigreturn") for r in records
    )


def test_json_keys_are_the_documented_ones(sh: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, records = sh
    _, out, _ = show(capsys, "-o", "json", str(path))
    objs = json_lines(out)
    assert len(objs) == len(records)
    keys = {"seq", "ts", "cpu", "pid", "tid", "comm", "syscall", "nr", "args", "ret", "errno",
            "duration_ns", "truncated"}  # fmt: skip
    doc = (Path(__file__).parent.parent / "docs" / "json-output.md").read_text()
    for k in keys:
        assert f"`{k}`" in doc, k
    for o, r in zip(objs, records, strict=True):
        assert set(o) == keys
        assert (o["seq"], o["ts"], o["pid"], o["tid"], o["ret"]) == (r[0], r[1], r[4], r[5], r[9])
        assert isinstance(o["args"], dict)
        assert (o["errno"] is not None) == failed(r)


def test_memory_stays_flat_whatever_the_size(tmp_path: Path) -> None:
    header, records = fixture("calls")

    def max_rss(n: int, *opts: str) -> int:
        recs = [[i + 1, 1000 + i, *records[i % len(records)][2:]] for i in range(n)]
        path = make_dump(tmp_path / f"{n}.msgpack", header, recs)
        del recs
        # A child's maximum RSS counts its parent's memory at fork time, and
        # this test holds the records: a small launcher runs show instead.
        launcher = (
            "import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        out = subprocess.run(
            [sys.executable, "-c", launcher, TRACELOOP, "show", *opts, str(path)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return int(out) * 1024

    for opts in (["-o", "json"], ["--wide"], ["-o", "perfetto"]):
        small, big = max_rss(10_000, *opts), max_rss(120_000, *opts)
        # 110,000 more records held in memory would take some 80 MiB
        assert big - small < 12 * 2**20, (opts, small, big)
    # ...which is what --last does with that many (so the test can tell)
    held = max_rss(120_000, "-o", "json", "--last", "1000000")
    assert held - small > 50 * 2**20
