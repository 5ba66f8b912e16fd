"""Pure parts of the core: tracefs parsing, slab validation, dump round trip, atomic writes."""

from __future__ import annotations

import io
import os
from pathlib import Path, PosixPath

import numpy as np
import pytest

from sidecar.dump.naming import DumpName
from sidecar.dump.reader import DumpReader, read_all
from sidecar.dump.syscalls import SyscallTable
from sidecar.dump.writer import write_dump
from sidecar.kernel.layout import Settings, slot_dtype
from sidecar.kernel.slab import read_consistent, to_records
from sidecar.kernel.syscalls import parse_format, parse_unistd
from sidecar.model.errors import DumpFormatError, DumpTruncatedError, SinkError
from sidecar.sinks.local import LocalSink, atomic_write, clean_partials

OPENAT_FORMAT = """name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;
"""


def test_tracefs_format_gives_parameter_names_and_types() -> None:
    params = parse_format(OPENAT_FORMAT)
    assert [(p.name, p.type) for p in params] == [
        ("dfd", "int"), ("filename", "const char *"), ("flags", "int"), ("mode", "umode_t"),
    ]  # fmt: skip


def test_unistd_header_gives_numbers() -> None:
    text = "#define __NR_read 0\n#define __NR_openat 257\n#define __NR_foo bar\n"
    assert parse_unistd(text) == {"read": 0, "openat": 257}


def test_syscall_table_round_trips_through_its_wire_form() -> None:
    wire: dict[object, object] = {257: ["openat", [["dfd", "int"], ["filename", "const char *"]]]}
    t = SyscallTable.from_wire(wire)
    back: dict[object, object] = dict(t.to_wire().items())
    assert SyscallTable.from_wire(back).by_nr == t.by_nr
    assert t.name(257) == "openat" and t.name(9999) == "syscall_9999"


def _slab(n: int, cap: int = 256) -> np.ndarray:
    return np.zeros(n, dtype=slot_dtype(cap))


def test_slot_layout_matches_the_c_struct_size() -> None:
    # 136 header bytes + two capture areas (sidecar/kernel/bpf/recorder.bpf.c struct slot)
    assert Settings().slot_size == 136 + 2 * 256


def _fill(slab: np.ndarray, seqs: range) -> None:
    for s in seqs:
        i = (s - 1) % len(slab)
        slab[i]["seq_begin"] = s
        slab[i]["seq_end"] = s
        slab[i]["nr"] = 3
        slab[i]["done"] = 1
        slab[i]["args"][0] = s


def test_consistent_read_orders_the_window_and_counts_overwrites() -> None:
    slab = _slab(16)
    _fill(slab, range(1, 41))  # 40 calls in 16 slots
    r = read_consistent(slab, head=40, base=0)
    assert r.slots["seq_begin"].tolist() == list(range(25, 41))
    assert r.overwritten == 24 and r.incomplete == 0


def test_torn_and_stale_slots_are_left_out() -> None:
    slab = _slab(16)
    _fill(slab, range(1, 17))
    slab[3]["seq_begin"] = 20  # a writer started on seq 20 and has not finished
    r = read_consistent(slab, head=20, base=2)  # seqs 1, 2 belong to a previous owner
    # Everything else is kept, in order: 3, then 5 to 16 (17-19 were reserved,
    # never written, so seq 3's slot still holds it).
    assert r.slots["seq_begin"].tolist() == [3, *range(5, 17)]
    assert r.slots["args"][:, 0].tolist() == [3, *range(5, 17)]  # each slot's own data
    assert r.incomplete == 4  # 17, 18, 19 unwritten and 20 torn


def test_records_carry_captures_and_unfinished_calls() -> None:
    slab = _slab(4)
    _fill(slab, range(1, 3))
    slab[0]["cap_len"][0] = 5
    slab[0]["cap_full"][0] = 9
    slab[0]["captured"] = 1
    slab[0]["cap"][0][:5] = np.frombuffer(b"/etc/", dtype="u1")
    slab[1]["done"] = 0
    slab[1]["cap_full"][0] = 4  # named 4 bytes the kernel could not read: no capture
    recs = to_records(read_consistent(slab, 2, 0).slots, {3: [[0, 1, 255]]})
    assert recs[0][10] == [[0, 1, b"/etc/", 9]]
    assert recs[1][10] == []
    assert recs[1][9] is None and recs[1][2] is None


def _records(n: int) -> list[list[object]]:
    return [[i, 1000 + i, 5, 0, 42, 42, "prog", 0, [3, 0, 0, 0, 0, 0], -2, []] for i in range(n)]


def test_dump_round_trip_is_exact() -> None:
    buf = io.BytesIO()
    recs = _records(50)
    write_dump(buf, {"triggers": []}, recs)
    header, back = read_all(buf.getvalue())
    assert header["format"] == "traceloop-dump" and header["version"] == 1
    assert back == recs


def test_truncated_dump_yields_its_records_then_says_truncated() -> None:
    buf = io.BytesIO()
    write_dump(buf, {}, _records(20))
    data = buf.getvalue()[:-30]
    with DumpReader(io.BufferedReader(io.BytesIO(data)), "cut.msgpack") as r:
        got = []
        with pytest.raises(DumpTruncatedError, match=r"cut\.msgpack: truncated"):
            for rec in r:
                got.append(rec)
    assert 15 <= len(got) < 20


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty file"),
        (b"hello, this is text\n", "not a traceloop dump"),
        (b"\x81\xa6format\xa3foo", "not a traceloop dump"),
        (b"\x82\xa6format\xaetraceloop-dump\xa7version\x63", "newer"),
    ],
)
def test_foreign_files_are_refused_with_one_line(data: bytes, message: str) -> None:
    with pytest.raises(DumpFormatError, match=message) as e:
        read_all(data, "f")
    assert "\n" not in str(e.value)


def test_atomic_write_is_0600_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    p = atomic_write(tmp_path / "a" / "x.msgpack", lambda f: f.write(b"data"))
    assert p.read_bytes() == b"data" and (p.stat().st_mode & 0o777) == 0o600

    def boom(f: object) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(SinkError, match="No space left"):
        atomic_write(tmp_path / "a" / "y.msgpack", boom)
    assert sorted(os.listdir(tmp_path / "a")) == ["x.msgpack"]


def test_dump_directories_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        p = atomic_write(tmp_path / "sink" / "web" / "x.msgpack", lambda f: f.write(b"data"))
    finally:
        os.umask(old)
    for d in (tmp_path / "sink", tmp_path / "sink" / "web"):
        assert d.stat().st_mode & 0o777 == 0o700, d
    assert p.stat().st_mode & 0o777 == 0o600


def test_a_failed_write_leaves_no_empty_directory(tmp_path: Path) -> None:
    def boom(f: object) -> None:
        raise UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")

    with pytest.raises(UnicodeEncodeError):
        atomic_write(tmp_path / "sink" / "c" / "x.msgpack", boom)
    assert list(tmp_path.iterdir()) == []


def test_a_time_from_outside_cannot_leave_the_sink(tmp_path: Path) -> None:
    name = DumpName(time="/../../etc/cron.d/x", reason="pod-restart", id="n-1", container="c")
    assert "/" not in name.filename and not name.filename.startswith(".")
    path = LocalSink(tmp_path / "sink").store(name, lambda f: f.write(b"x"))
    assert Path(path).resolve().is_relative_to((tmp_path / "sink").resolve())


def test_partials_from_a_crash_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / ".tmp-abc.part").write_bytes(b"half")
    (tmp_path / "c" / "keep.msgpack").write_bytes(b"whole")
    assert clean_partials(tmp_path) == 1
    assert os.listdir(tmp_path / "c") == ["keep.msgpack"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["daemon", "--rate-limit", "-1"], "argument --rate-limit: must be at least 0: -1"),
        (["daemon", "--grace", "soon"], "argument --grace: not a number of seconds: 'soon'"),
        (["daemon", "--window", "nan"], "argument --window: must not be negative: nan"),
        (["dump", "web", "--timeout", "-5"], "argument --timeout: must not be negative: -5"),
        (["ls", "s3://bucket", "-n", "-2"], "argument -n/--limit: must be at least 0: -2"),
        (["show", "--last", "0", "x"], "argument --last: must be at least 1: 0"),
        (["show", "-s", "many", "x"], "argument -s/--string-limit: not a whole number: 'many'"),
        (["daemon", "--metrics-addr", "9090"], "argument --metrics-addr: '9090' is not HOST:PORT"),
    ],
)
def test_bad_numbers_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sidecar.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err.splitlines()[-1]


def test_unreadable_tracefs_says_root_is_needed() -> None:
    """As a user, tracefs cannot even be looked into: say so, not EACCES."""
    from sidecar.kernel.syscalls import find_tracefs
    from sidecar.model.errors import PermissionDeniedError

    class Unreadable(PosixPath):  # a path whose stat fails as it does for a user
        def is_dir(self) -> bool:
            raise PermissionError(13, "Permission denied")

    with pytest.raises(PermissionDeniedError, match="recording needs root"):
        find_tracefs([Unreadable("/sys/kernel/tracing")])
