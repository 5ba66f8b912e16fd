"""`show -o perfetto`: a timeline in Chrome's trace-event JSON, every call in it.

Checked against the format's documented fields (tests/perfettoutil.py) on
real recordings and on hand-built records; the real runc container's dump is
in test_story_bpf.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from perfettoutil import load_trace
from showutil import DATA, fixture, make_dump, show, show_child
from test_runtime_pure import ENOENT, Recs, daemon_header, runc_like

from sidecar.dump.records import DUR, NR, PID, RET, SEQ, SIGNAL, TID, TS
from sidecar.render.calls import build


def slices(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in trace["traceEvents"] if e["ph"] in ("X", "B")]


def check_every_call(trace: dict[str, Any], header: dict[str, Any], recs: list[Any]) -> None:
    """One slice per record, at its time, on its thread, named for its call."""
    names = {nr: c.name for nr, c in build(header).items()}
    got = {e["args"]["seq"]: e for e in slices(trace)}
    delivered = [r for r in recs if r[NR] == SIGNAL]
    calls = [r for r in recs if r[NR] != SIGNAL]
    assert len(got) == len(slices(trace)) == len(calls)
    # A signal delivery is an instant on its thread's track, named for the signal.
    signals = [e for e in trace["traceEvents"] if "signal" in e.get("cat", "").split(",")]
    assert [(e["args"]["seq"], e["pid"], e["tid"]) for e in signals] == [
        (r[SEQ], r[PID], r[TID]) for r in delivered
    ]
    assert all(e["ph"] == "i" and e["name"].startswith("SIG") for e in signals)
    for r in calls:
        e = got[r[SEQ]]
        assert (e["name"], e["pid"], e["tid"]) == (names[r[NR]], r[PID], r[TID])
        assert round(e["ts"] * 1000) == r[TS]
        if r[DUR] is not None:
            assert round(e["dur"] * 1000) == r[DUR]
        if r[RET] is not None and -4095 <= r[RET] < 0:
            assert "failed" in e["cat"].split(",") and e["args"]["errno"].startswith("E")


@pytest.mark.parametrize("name", ["calls", "sh-cat", "segv-blocked"])
def test_recordings_load_with_every_call(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = show(capsys, "-o", "perfetto", str(DATA / f"{name}.msgpack.zst"))
    assert (status, err) == (0, "")
    header, recs = fixture(name)
    trace = load_trace(out)
    check_every_call(trace, header, recs)
    assert trace["displayTimeUnit"] == "ns"
    # Each trigger with a time is an instant on its thread.
    timed = [t for t in header["triggers"] if t.get("ts_ns")]
    instants = [e for e in trace["traceEvents"] if e["ph"] == "i" and e["cat"] == "trigger"]
    assert [(round(e["ts"] * 1000), e["pid"]) for e in instants] == [
        (t["ts_ns"], t["pid"]) for t in timed
    ]


def test_threads_named_and_renamed_at_exec(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = show(capsys, "-o", "perfetto", str(DATA / "sh-cat.msgpack.zst"))
    _, recs = fixture("sh-cat")
    names: dict[tuple[int, int], list[str]] = {}
    for e in load_trace(out)["traceEvents"]:
        if e["name"] == "thread_name":
            names.setdefault((e["pid"], e["tid"]), []).append(e["args"]["name"])
    # A thread's names in order, as its records' comm changes (exec renames it).
    want: dict[tuple[int, int], list[str]] = {}
    for r in recs:
        seen = want.setdefault((r[PID], r[TID]), [])
        if not seen or seen[-1] != r[6]:
            seen.append(r[6])
    assert names == want


def test_setup_unfinished_and_noreturn_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = runc_like()
    r.add(104, "cat", "read", None, dur=None)  # still running at the freeze
    path = make_dump(tmp_path / "d.msgpack", daemon_header(), r.recs)
    _, out, _ = show(capsys, "-o", "perfetto", str(path))
    trace = load_trace(out)
    check_every_call(trace, daemon_header(), r.recs)
    by_seq = {e["args"]["seq"]: e for e in slices(trace)}
    assert [by_seq[x[SEQ]].get("args", {}).get("runtime_setup", False) for x in r.recs] == [
        True] * 7 + [False, True, False, False, False, False]  # fmt: skip
    assert by_seq[r.recs[-1][SEQ]]["ph"] == "B"
    exit_group = by_seq[r.recs[-2][SEQ]]
    assert (exit_group["name"], exit_group["ph"], exit_group["dur"]) == ("exit_group", "X", 0)
    start = [e for e in trace["traceEvents"] if e.get("cat") == "runtime"]
    assert [round(e["ts"] * 1000) for e in start] == [r.recs[7][TS]]


def test_filters_apply_and_hostile_names_stay_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Recs()
    r.execve(9, "traceloop", b"/bin/app", [b"app"])
    r.add(9, "a\x1b[2J\x7f\u009b", "openat", ENOENT)
    path = make_dump(tmp_path / "d.msgpack", daemon_header(), r.recs)
    res = show_child("-o", "perfetto", "--failed", str(path))
    assert res.returncode == 0 and b"\x1b" not in res.stdout and b"\x7f" not in res.stdout
    assert b"\xc2\x9b" not in res.stdout
    trace = load_trace(res.stdout.decode())
    assert [e["name"] for e in slices(trace)] == ["openat"]
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["ph"] == "M"}
    assert names == {"a\x1b[2J\x7f\u009b"}


def test_a_truncated_dump_still_gives_a_whole_trace(tmp_path: Path) -> None:
    header, recs = fixture("calls")
    path = make_dump(tmp_path / "d.msgpack", header, recs)
    path.write_bytes(path.read_bytes()[:-200])
    res = show_child("-o", "perfetto", str(path))
    assert res.returncode == 1 and res.stderr.startswith(b"traceloop: error: ")
    got = slices(load_trace(res.stdout.decode()))
    assert 0 < len(got) < len(recs)


def test_one_dump_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    d = str(DATA / "calls.msgpack.zst")
    for args in ([d, d], ["--info", d], ["--summary", d]):
        status, out, err = show(capsys, "-o", "perfetto", *args)
        assert status == 2 and out == "" and "-o perfetto" in err
