"""`show` on hostile dumps: each file that once misbehaved, through every mode.

Every case runs in a child process under a 1 GiB address-space limit
(showutil.show_child) and must end as showutil.check_shown says: exit 2 with
one line, or 0/1 with valid output; no traceback, no raw control byte.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from showutil import check_shown, fixture, show_child

from sidecar.dump.writer import write_dump

HEADER, RECORDS = fixture("calls")
MODES = [[], ["--wide"], ["-o", "strace"], ["-o", "json"], ["--info"], ["--info", "-o", "json"],
         ["--summary"], ["--summary", "-o", "json"], ["--failed", "-o", "strace"],
         ["--tid", "1,6059", "--comm", "calls,x", "-o", "strace"],
         ["--pid", "6059", "--last", "5"], ["--syscall-filters", "openat,read", "-o", "json"],
         ["-o", "perfetto"]]  # fmt: skip


def dump(header: dict[str, Any] | None = None, records: list[list[Any]] | None = None) -> bytes:
    out = io.BytesIO()
    write_dump(out, HEADER if header is None else header, RECORDS if records is None else records)
    return out.getvalue()


def with_header(**changes: Any) -> bytes:
    return dump({**HEADER, **changes})


def raw_header(*items: bytes) -> bytes:
    """A header map written by hand: `format`, `version` and the given key/value bytes."""
    body: bytes = msgpack.packb("format") + msgpack.packb("traceloop-dump")
    body += msgpack.packb("version") + msgpack.packb(1)
    return bytes([0x80 | (2 + len(items) // 2)]) + body + b"".join(items)


def record(**changes: Any) -> list[Any]:
    r = list(RECORDS[5])
    names = ["seq", "ts", "dur", "cpu", "pid", "tid", "comm", "nr", "args", "ret", "caps"]
    for k, v in changes.items():
        r[names.index(k)] = v
    return r


def zstd_bomb() -> bytes:
    """128 KB of zstd that expands to ~300 MB: a header, then one record whose
    captures nest small arrays 7 deep (16**7 nils, each a pointer when built)."""
    cctx = zstandard.ZstdCompressor(level=3)
    out = io.BytesIO()
    with cctx.stream_writer(out, closefd=False) as w:
        w.write(dump(records=[]).rsplit(b"\x82\xa6footer", 1)[0])
        w.write(b"\x9b" + msgpack.packb(record(caps=None))[1:-1])  # 10 fields, caps next
        leaf = b"\xdc\x00\x10" + b"\xc0" * 16

        def nest(depth: int) -> None:
            if depth == 0:
                w.write(leaf)
                return
            w.write(b"\xdc\x00\x10")
            for _ in range(16):
                nest(depth - 1)

        nest(6)
    return out.getvalue()


FOOTER = len(msgpack.packb({"footer": True, "records": 0}))
EVIL = "a\x1b[2J\x1b]0;pwned\x07b\rc\x9bd\x7fe\x00f"
CASES: dict[str, Callable[[], bytes]] = {
    "header value nested 995 deep": lambda: raw_header(
        msgpack.packb("deep"), b"\x91" * 995 + b"\xc0"
    ),
    "header maps nested 995 deep": lambda: raw_header(
        msgpack.packb("deep"), b"\x81\xa1k" * 995 + b"\xc0"
    ),
    "triggers a string": lambda: with_header(triggers="nonzero-exit"),
    "triggers a map": lambda: with_header(triggers={"pid": 1}),
    "trigger tid a list": lambda: with_header(
        triggers=[{**HEADER["triggers"][0], "tid": [1], "comm": ["x"]}]
    ),
    "syscall_filters an int": lambda: with_header(
        recorder={**HEADER["recorder"], "syscall_filters": 5}
    ),
    "syscall_filters a map": lambda: with_header(
        recorder={**HEADER["recorder"], "syscall_filters": {"a": [1]}}
    ),
    "record seq bytes": lambda: dump(records=[record(seq=b"\x1b[2J")]),
    "record seq a map": lambda: dump(records=[record(seq={"a": 1})]),
    "record ts a bool": lambda: dump(records=[record(ts=True)]),
    "version true": lambda: raw_header()[:-1] + b"\xc3" + dump()[len(raw_header()) :],
    "NaN and infinity in the header": lambda: with_header(
        window={"seconds": float("nan"), "cut": 1}, created_ns=float("inf")
    ),
    "header of 9 MiB": lambda: with_header(pad=["x" * (900 << 10)] * 10),
    "zstd bomb": zstd_bomb,
    "100,000 syscall numbers": lambda: dump(
        records=[record(seq=i, nr=1000 + i, caps=[]) for i in range(100_000)]
    ),
    "1 MiB container name on 3,000 rows": lambda: dump(
        {**HEADER, "container": {**HEADER["container"], "name": "n" * (1 << 20)}},
        [record(seq=i) for i in range(3000)],
    ),
    "control bytes in every header string": lambda: with_header(
        container={
            **HEADER["container"],
            "name": EVIL,
            "cgroup_path": EVIL,
            "id": EVIL,
            "runtime": EVIL,
            "command": [EVIL, EVIL],
        },
        pod={
            "node": EVIL,
            "namespace": EVIL,
            "name": EVIL,
            "uid": EVIL,
            "container": EVIL,
            "container_id": EVIL,
            "image": EVIL,
        },
        host={"hostname": EVIL, "node": EVIL, "kernel": EVIL, "arch": EVIL},
        triggers=[
            {
                **HEADER["triggers"][0],
                "comm": EVIL,
                "time": EVIL,
                "reason": EVIL,
                "source": EVIL,
                "detail": {EVIL: EVIL},
            }
        ],
        recorder={**HEADER["recorder"], "version": EVIL},
        created=EVIL,
    ),
    "control bytes in comm": lambda: dump(
        records=[record(comm="x\x1b]0;t\x07\r"), record(comm="\x9b31m\x7f")]
    ),
    "control bytes in the syscall table": lambda: with_header(
        syscalls={**HEADER["syscalls"], RECORDS[5][7]: [EVIL, [[EVIL, "int"], ["fd", EVIL]]]}
    ),
    "control bytes in a footer's count": lambda: (
        dump(records=[])[:-16] + msgpack.packb({"footer": True, "records": EVIL * 10_000})
    ),
    "header cut mid-way": lambda: dump()[:5000],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_dump_in_every_mode(case: str, files: Path) -> None:
    path = files / f"{abs(hash(case))}.msgpack"
    path.write_bytes(CASES[case]())
    for mode in MODES:
        check_shown(mode, show_child(*mode, str(path)))


def test_a_header_cut_mid_way_says_truncated(files: Path) -> None:
    path = files / "cut.msgpack"
    path.write_bytes(dump()[:5000])
    res = show_child(str(path))
    assert res.returncode == 1, res.stderr
    assert b"truncated" in res.stderr and b"empty" not in res.stderr


def test_wrongly_typed_fields_are_refused_with_their_name(files: Path) -> None:
    for data, field in [
        (with_header(recorder={**HEADER["recorder"], "syscall_filters": 5}), b"syscall_filters"),
        (with_header(triggers=[{**HEADER["triggers"][0], "tid": "1"}]), b"tid"),
        (raw_header()[:-1] + b"\xc3" + dump()[len(raw_header()) :], b"version"),
        (dump(records=[record(seq=b"x")]), b"seq"),
    ]:
        path = files / "typed.msgpack"
        path.write_bytes(data)
        res = show_child("-o", "json", str(path))
        assert res.returncode == 2 and field in res.stderr, res.stderr


def test_info_json_is_strict(files: Path) -> None:
    path = files / "nan.msgpack"
    path.write_bytes(with_header(window={"seconds": float("nan"), "cut": 1}))
    res = show_child("--info", "-o", "json", str(path))
    check_shown(["--info", "-o", "json"], res)
    assert b"NaN" not in res.stdout


def test_special_files_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it to read would block for ever
    for path, words in [(str(fifo), b"not a regular file"), ("/proc/self/mem", b"cannot read"),
                        ("/dev/zero", b"not a regular file"), (str(tmp_path), b"directory")]:  # fmt: skip
        res = show_child(path, timeout=20)
        check_shown([], res)
        assert res.returncode == 2 and words in res.stderr, (path, res.stderr)


def test_control_bytes_are_shown_escaped(files: Path) -> None:
    path = files / "evil.msgpack"
    path.write_bytes(CASES["control bytes in every header string"]())
    res = show_child("--info", str(path))
    assert res.returncode == 0
    assert b"a\\33[2J\\33]0;pwned\\7b\\rc\\302\\233d\\177e\\0f" in res.stdout
    table = show_child("--wide", str(path)).stdout.decode()
    assert "a\\33[2J" in table.splitlines()[1]
