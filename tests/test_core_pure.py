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
from sidecar.kernel.layout import HDR_DTYPE, MIB, REC_BYTES, REC_DTYPE, Settings, meta_dtype
from sidecar.kernel.slab import read_slab, to_records
from sidecar.kernel.syscalls import parse_format, parse_unistd
from sidecar.model.errors import DumpFormatError, DumpTruncatedError, SinkError, UsageError
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


class Pool:
    """The kernel side's memory as NumPy arrays, written as recorder.bpf.c
    writes it: chunks of CHUNK bytes with records stacked down from the end
    and captured bytes up from the start, their headers, one container slot."""

    CHUNK = 1024  # 8 records a chunk

    def __init__(self, nchunks: int = 8, ring: int = 8) -> None:
        self.chunks = np.zeros((nchunks, self.CHUNK), dtype="u1")
        self.hdrs = np.zeros(nchunks, dtype=HDR_DTYPE)
        self.meta = np.zeros(1, dtype=meta_dtype(ring))[0]
        self.live = self.chunks.view(REC_DTYPE).reshape(nchunks, self.CHUNK // REC_BYTES)

    def hold(self, *ids: int, tail: int = 0) -> None:
        """The slot holds these chunks, oldest first, starting at ring position `tail`."""
        ring = self.meta["ring"]
        for i, c in enumerate(ids):
            ring[(tail + i) % len(ring)] = c
            self.hdrs[c]["gen"] += 1
            self.hdrs[c]["fill"] = 0
        self.meta["tail"], self.meta["top"], self.meta["held"] = tail, tail + len(ids) - 1, len(ids)

    def call(self, c: int, seq: int, capture: bytes | None = None, done: bool = True) -> int:
        """Record a call in chunk c as the kernel does; returns its position."""
        h = self.hdrs[c]
        fill = int(h["fill"])
        r, used = fill & 0xFFFFFFFF, fill >> 32
        need = (len(capture) + 7) & ~7 if capture is not None else 0
        assert (r + 1) * REC_BYTES + used + need <= self.CHUNK
        h["fill"] = fill + (need << 32) + 1
        rec = self.live[c, self.CHUNK // REC_BYTES - 1 - r]
        rec["seq"], rec["nr"], rec["done"], rec["gen"] = seq, 3, int(done), h["gen"] & 0xFFFF
        rec["args"][0] = seq
        if capture is not None:
            self.chunks[c, used : used + len(capture)] = np.frombuffer(capture, dtype="u1")
            rec["cap_off"][0], rec["cap_len"][0], rec["cap_full"][0] = used, len(capture), 9
            rec["captured"] = 1
        self.meta["head"] = max(int(self.meta["head"]), seq)
        return int(r)

    def read(self, window: int | None = None) -> list[int]:
        r = read_slab(self.meta, self.chunks, self.hdrs, window)
        self.last = r
        return [int(s) for s in r.recs["seq"]]


def test_consistent_read_orders_the_window_and_counts_overwrites() -> None:
    p = Pool()
    # The slot's ring wrapped: chunks 5, 2, 7 hold calls 17-40 (1-16 were in
    # chunks it recycled); calls from two CPUs land out of order in a chunk.
    p.hold(5, 2, 7, tail=6)
    for c, seqs in ((5, [18, 17, 19, 20, 21, 22, 23, 24]), (2, range(25, 33)), (7, range(33, 41))):
        for s in seqs:
            p.call(c, s)
    assert p.read() == list(range(17, 41))
    assert p.last.overwritten == 16 and p.last.incomplete == 0
    assert p.read(window=10) == list(range(31, 41))
    assert p.last.overwritten == 30


def test_torn_stale_and_foreign_records_are_left_out() -> None:
    p = Pool()
    p.hold(1, 4)
    for s in range(3, 11):
        p.call(1, s)
    p.call(4, 11)
    p.call(4, 12)
    p.live[1, 7 - 3]["seq"] = 0  # a writer is in call 6's record (seq 0 until it is done)
    # Chunk 4's third record was reserved but not written yet: what is there is
    # left from the chunk's previous use (another incarnation).
    p.hdrs[4]["fill"] += 1
    stale = p.live[4, 7 - 2]
    stale["seq"], stale["gen"] = 13, (int(p.hdrs[4]["gen"]) - 1) & 0xFFFF
    p.meta["head"], p.meta["base"] = 13, 4  # calls 1-4 belong to the slot's previous owner
    kept = p.read()
    assert kept == [5, 7, 8, 9, 10, 11, 12]
    assert p.last.incomplete == 2  # 6 (torn) and 13 (unwritten)


def test_records_carry_captures_and_unfinished_calls() -> None:
    p = Pool()
    p.hold(3)
    p.call(3, 1, capture=b"/etc/")
    p.call(3, 2, done=False)
    p.read()
    recs = to_records(p.last, {3: [[0, 1, 255]]})
    assert recs[0][10] == [[0, 1, b"/etc/", 9]]
    assert recs[1][10] == []
    assert recs[1][9] is None and recs[1][2] is None


def test_a_released_slot_reads_empty() -> None:
    p = Pool()
    p.hold(3)
    p.call(3, 1)
    p.meta["held"] = 0
    assert p.read() == [] and p.last.overwritten == 1


def test_the_default_budget_records_a_thousand_containers_each_from_a_small_floor() -> None:
    s = Settings()
    assert s.memory == 128 * MIB and s.containers >= 1000
    # Every slot's floor keeps its last 256 calls at 64 bytes of captures a
    # call (and one chunk being filled); an idle container holds one chunk.
    assert (s.floor - 1) * s.chunk >= 256 * (REC_BYTES + 64)
    assert s.floor * s.chunk + s.meta_size <= 64 * 1024
    assert s.chunk + s.meta_size <= 64 * 1024
    # 16 containers at their full window of the heaviest calls fit beside the floors.
    assert s.spare >= 16 * (s.window_chunks - s.floor)
    assert s.nchunks * s.chunk_cost + s.containers * s.meta_size <= s.memory


def test_a_budget_too_small_for_the_containers_asked_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="holds at most"):
        Settings(memory=16 * MIB, containers=4096)
    assert Settings(memory=16 * MIB).containers >= 1


def _records(n: int) -> list[list[object]]:
    return [[i, 1000 + i, 5, 0, 42, 42, "prog", 0, [3, 0, 0, 0, 0, 0], -2, []] for i in range(n)]


def test_dump_round_trip_is_exact() -> None:
    buf = io.BytesIO()
    recs = _records(50)
    write_dump(buf, {"triggers": []}, recs)
    header, back = read_all(buf.getvalue())
    assert header["format"] == "traceloop-dump" and header["version"] == 2
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
