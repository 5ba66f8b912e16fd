"""strace's own options on `show`: -t/-tt/-ttt, -r, -T, -e trace=, -Z/-z, and
the `[pid N]` prefixes of filtered views, on dumps recorded from real programs.

Expected values are computed from the dumps' records; tests/test_show_vs_strace.py
holds the same options against strace itself."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from showutil import TRACELOOP, fixture, json_lines, make_dump, show

from sidecar.dump.records import NR, PID, RET, TID, TS
from sidecar.render.calls import build
from sidecar.render.trace_expr import parse_trace, strace_table

FIXTURES = ("sh-cat", "calls", "segv-blocked")
PREFIX = re.compile(r"^\[pid +(\d+)\] ")
CALL = re.compile(r"^(?:\[pid +\d+\] )?(\w+)\(")


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("dumps")
    out = {}
    for name in FIXTURES:
        header, records = fixture(name)
        out[name] = (make_dump(d / f"{name}.msgpack", header, records), header, records)
    return out


def names(header: dict[str, Any]) -> dict[int, str]:
    return {nr: c.name for nr, c in build(header).items()}


def is_failed(rec: list[Any]) -> bool:
    return rec[RET] is not None and -4095 <= rec[RET] < 0


def strace_lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    status, out, err = show(capsys, "-o", "strace", *args)
    assert (status, err) == (0, "")
    return out.splitlines()


def is_subsequence(part: list[str], whole: list[str]) -> bool:
    it = iter(whole)
    return all(any(line == w for w in it) for line in part)


# --- [pid N] ----------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_a_filter_does_not_change_which_lines_get_the_prefix(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path, _, records = dumps[name]
    whole = strace_lines(capsys, str(path))
    pids = sorted({r[PID] for r in records})
    tids = sorted({r[TID] for r in records})
    views = [["--failed"], ["-Z"], ["-z"], ["-e", "trace=%file"], ["-e", "trace=!%memory"],
             ["--syscall-filters", "openat,close"], ["--pid", str(pids[-1])],
             ["--tid", str(tids[0])], ["--last", "7"], ["--since", "1ms"],
             ["-e", "trace=%process"]]  # fmt: skip
    for view in views:
        part = strace_lines(capsys, *view, str(path))
        assert part, view
        # Every line of the view is the unfiltered view's line, prefix and all.
        assert is_subsequence(part, whole), (view, [x for x in part if x not in whole][:3])


def test_prefix_follows_strace_f(dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """sh -c 'cat /nonexistent; sleep 0.2 & exit 3': strace -f prefixes from the
    fork until the child has exited, and again after the next fork."""
    path, header, records = dumps["sh-cat"]
    by_nr = names(header)
    lines = [x for x in strace_lines(capsys, str(path)) if "+++" not in x]
    assert len(lines) == len(records)
    sh = records[0][PID]
    child = next(r[PID] for r in records if r[PID] != sh)
    forks = [i for i, r in enumerate(records) if by_nr[r[NR]] in ("clone", "vfork")]
    child_exit = next(
        i for i, r in enumerate(records) if r[PID] == child and by_nr[r[NR]] == "exit_group"
    )
    prefixed = [bool(PREFIX.match(x)) for x in lines]
    assert not any(prefixed[: forks[0] + 1])  # one process, up to and with its fork
    assert all(prefixed[forks[0] + 1 : child_exit + 1])  # two, until the child's exit
    assert not any(prefixed[child_exit + 1 : forks[1] + 1])  # one again
    for line, r in zip(lines, records, strict=True):
        m = PREFIX.match(line)
        assert m is None or int(m.group(1)) == r[TID]


# --- -Z, -z, -e trace= ------------------------------------------------------


def test_failed_only_and_successful_only(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, records = dumps["sh-cat"]
    assert strace_lines(capsys, "-Z", str(path)) == strace_lines(capsys, "--failed", str(path))
    _, out, _ = show(capsys, "-o", "json", "-z", str(path))
    ok = [r[0] for r in records if r[RET] is not None and not is_failed(r)]
    assert ok and [o["seq"] for o in json_lines(out)] == ok
    _, out, _ = show(capsys, "-o", "json", "-z", "-Z", str(path))  # strace: the last one counts
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if is_failed(r)]


def class_members(header: dict[str, Any], flag: str) -> set[int]:
    """The dump's syscall numbers strace's table gives `flag` (read straight from it)."""
    table = strace_table(str(header["host"]["arch"]))
    return {nr for nr in names(header) if nr in table and flag in table[nr].flags}


@pytest.mark.parametrize(
    "expr,flag",
    [("%file", "TF"), ("%process", "TP"), ("%memory", "TM"), ("%desc", "TD"),
     ("%signal", "TS"), ("%%stat", "TSTA"), ("%fstat", "TFST"), ("%clock", "TCL"),
     ("%pure", "PU"), ("%creds", "TC"), ("%network", "TN"), ("%net", "TN"), ("file", "TF"),
     ("%FILE", "TF")],
)  # fmt: skip
def test_trace_classes(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str], expr: str, flag: str
) -> None:
    path, header, records = dumps["calls"]
    members = class_members(header, flag)
    _, out, _ = show(capsys, "-o", "json", "-e", f"trace={expr}", str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if r[NR] in members]
    _, out, _ = show(capsys, "-o", "json", "-e", f"trace=!{expr}", str(path))
    assert [o["seq"] for o in json_lines(out)] == [r[0] for r in records if r[NR] not in members]


def test_trace_class_table_is_strace_s(dumps: dict[str, Any]) -> None:
    """A sample of strace v7.2's syscallent.h, as strace -e trace= selects."""
    x86 = {e.name: e.flags for e in strace_table("x86_64").values()}
    assert x86["openat"] == {"TD", "TF"}
    assert x86["newfstatat"] == {"TD", "TF", "TFST", "TSTA"}
    assert x86["stat"] == {"TF", "TST", "TSTA"}
    assert x86["execve"] == {"TF", "TP"}
    assert x86["mmap"] == {"TD", "TM"}
    assert x86["getpid"] == {"PU"} and x86["setuid"] == {"TC"}
    assert x86["clock_gettime"] == {"TCL"} and x86["kill"] == {"TP", "TS"}
    assert x86["sendto"] == {"TN"} and x86["shmat"] == {"TI", "TM"}
    assert strace_table("x86_64")[257].name == "openat"
    assert strace_table("aarch64")[56].name == "openat"
    assert "open" not in {e.name for e in strace_table("aarch64").values()}


def test_trace_names_regex_numbers_and_errors(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, header, records = dumps["sh-cat"]
    by_nr = names(header)

    def seqs(*args: str) -> list[int]:
        status, out, err = show(capsys, "-o", "json", *args, str(path))
        assert (status, err) == (0, "")
        return [o["seq"] for o in json_lines(out)]

    def want(ok: Any) -> list[int]:
        return [r[0] for r in records if ok(by_nr[r[NR]])]

    assert seqs("-e", "trace=openat,close") == want(lambda n: n in ("openat", "close"))
    assert seqs("-e", "openat,close") == seqs("--trace=openat,close")  # strace's other spellings
    assert seqs("-e", "trace=!openat,close") == want(lambda n: n not in ("openat", "close"))
    assert seqs("-e", "trace=/^(open|read)") == want(lambda n: re.match("open|read", n))
    assert seqs("-e", "trace=/stat$") == want(lambda n: n.endswith("stat"))
    assert seqs("-e", "trace=257") == want(lambda n: n == "openat")
    assert seqs("-e", "trace=none") == [] and len(seqs("-e", "trace=all")) == len(records)
    assert len(seqs("-e", "trace=!none")) == len(records)
    assert seqs("-e", "trace=?nosuchcall,openat") == want(lambda n: n == "openat")
    # strace's name for the call the kernel calls newfstat; one strace knows, absent here
    assert seqs("-e", "trace=fstat") == want(lambda n: n == "newfstat")
    assert seqs("-e", "trace=open") == []
    # with --syscall-filters: both apply
    assert seqs("-e", "trace=%file", "--syscall-filters", "openat,write") == want(
        lambda n: n == "openat"
    )
    for bad, says in [("trace=nosuchcall", "invalid system call 'nosuchcall'"),
                      ("trace=/^nosuch", "invalid system call '/^nosuch'"),
                      ("trace=/(", "'/('"), ("trace=open,,close", "invalid system call"),
                      ("trace=", "invalid system call"),
                      ("status=failed", "only strace's trace= qualifier")]:  # fmt: skip
        status, out, err = show(capsys, "-o", "strace", "-e", bad, str(path))
        assert status == 2 and out == "", bad
        assert len(err.splitlines()) == 1 and says in err, (bad, err)


def test_trace_filters_every_form(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, header, records = dumps["sh-cat"]
    by_nr = names(header)
    file_calls = [r for r in records if r[NR] in parse_trace("%file", by_nr, "x86_64")]
    _, out, _ = show(capsys, "--wide", "-e", "trace=%file", str(path))
    assert len(out.splitlines()) == 1 + len(file_calls)
    _, out, _ = show(capsys, "--summary", "-o", "json", "-e", "trace=%file", str(path))
    counts = {o["syscall"]: o["calls"] for o in json_lines(out) if "syscall" in o}
    assert counts == {
        n: sum(by_nr[r[NR]] == n for r in file_calls) for n in {by_nr[r[NR]] for r in file_calls}
    }


# --- -t, -tt, -ttt, -r, -T --------------------------------------------------


def calls_and_times(
    capsys: pytest.CaptureFixture[str], path: Path, *opts: str
) -> list[tuple[str, str]]:
    """(leader, rest) of each line: the `[pid N] ` and time fields, and the call."""
    out = []
    for line in strace_lines(capsys, *opts, str(path)):
        m = re.match(r"^((?:\[pid +\d+\] )?[0-9:. ()+]*?)([a-z_0-9]+\(|\+\+\+ )", line)
        assert m, line
        out.append((m.group(1), re.sub(r"\) +=", ") =", line[m.end(1) :])))
    return out


def test_ttt_is_the_records_wall_clock(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, header, records = dumps["calls"]
    offset = header["boot_offset_ns"]
    lines = [x for x in strace_lines(capsys, "-ttt", str(path)) if "+++" not in x]
    assert len(lines) == len(records)
    for line, r in zip(lines, records, strict=True):
        stamp = PREFIX.sub("", line).split(" ", 1)[0]
        sec, us = stamp.split(".")
        assert len(us) == 6 and int(sec) * 10**6 + int(us) == (r[TS] + offset) // 1000, line


def test_t_and_tt_are_local_time_of_ttt(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = dumps["sh-cat"][0]
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # +05:30: a zone that moves minutes too
    time.tzset()
    try:
        epochs = [lead for lead, _ in calls_and_times(capsys, path, "-ttt")]
        tt = [lead for lead, _ in calls_and_times(capsys, path, "-tt")]
        t = [lead for lead, _ in calls_and_times(capsys, path, "-t")]
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert len(epochs) == len(tt) == len(t) > 100
    for e, a, b in zip(epochs, tt, t, strict=True):
        pfx = PREFIX.match(e)
        p = pfx.group(0) if pfx else ""
        sec, us = e[len(p) :].split()[0].split(".")
        hms = time.strftime("%H:%M:%S", time.gmtime(int(sec) + 5 * 3600 + 1800))
        assert a == f"{p}{hms}.{us} " and b == f"{p}{hms} ", (e, a, b)


def test_r_is_the_time_since_the_previous_line(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = dumps["sh-cat"][0]
    for view in ([], ["-e", "trace=%file"], ["--last", "20"]):
        rel = calls_and_times(capsys, path, "-r", *view)
        ttt = calls_and_times(capsys, path, "-ttt", *view)
        assert len(rel) == len(ttt) > 5 and [x[1] for x in rel] == [x[1] for x in ttt]
        prev = None
        for (r_lead, _), (t_lead, _) in zip(rel, ttt, strict=True):
            r_lead, t_lead = PREFIX.sub("", r_lead), PREFIX.sub("", t_lead)
            assert re.fullmatch(r" *\d+\.\d{6} ", r_lead) and len(r_lead) >= 14, r_lead
            us = round(float(t_lead) * 1e6)
            got = round(float(r_lead) * 1e6)
            # Both are cut to the microsecond: they may differ by one.
            assert abs(got - (0 if prev is None else us - prev)) <= 1, (r_lead, t_lead)
            prev = us


def test_t_with_r_is_stracess_combined_form(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = dumps["sh-cat"][0]
    for lead, _ in calls_and_times(capsys, path, "-tt", "-r"):
        assert re.fullmatch(r"(\[pid +\d+\] )?\d\d:\d\d:\d\d\.\d{6} \(\+ *\d+\.\d{6}\) ", lead)


def test_T_is_the_records_duration(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, records = dumps["sh-cat"]
    lines = [x for x in strace_lines(capsys, "-T", str(path)) if "+++" not in x]
    assert len(lines) == len(records)
    for line, r in zip(lines, records, strict=True):
        m = re.search(r" <(\d+)\.(\d{6})>$", line)
        if r[RET] is None:  # unfinished, or exit_group's `= ?`: no time, as in strace
            assert m is None, line
        else:
            assert m, line
            assert int(m.group(1)) * 10**6 + int(m.group(2)) == r[2] // 1000, line


def test_time_options_only_for_strace_lines(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(dumps["sh-cat"][0])
    for args in (
        ["-T", path],
        ["-o", "json", "-tt", path],
        ["--summary", "-o", "strace", "-r", path],
    ):
        status, out, err = show(capsys, *args)
        assert status == 2 and out == "" and len(err.splitlines()) == 1, (args, err)
        assert "only with -o strace" in err


def test_t_without_boot_offset(
    dumps: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, header, records = dumps["sh-cat"]
    path = make_dump(
        tmp_path / "old.msgpack", {k: v for k, v in header.items() if k != "boot_offset_ns"},
        records,
    )  # fmt: skip
    status, out, err = show(capsys, "-o", "strace", "-tt", str(path))
    assert status == 2 and "boot_offset_ns" in err and len(err.splitlines()) == 1
    status, out, err = show(capsys, "-o", "strace", "-r", "-T", str(path))
    assert status == 0 and out


def test_help_names_the_strace_options() -> None:
    import subprocess

    out = subprocess.run(
        [TRACELOOP, "show", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for opt in ("-e trace=EXPR", "%file", "-Z", "-z", "-tt", "-ttt", "-r", "-T", "strace(1)"):
        assert opt in out, opt
