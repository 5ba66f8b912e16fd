"""Random, cut, mutated and hostile files thrown at DumpReader and `show`.

Whatever the input, the only exceptions allowed out are the project's own
DumpFormatError and DumpTruncatedError (one line, exit 2 or 1): never another
exception, a hang, or memory that grows with a declared length.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from showutil import fixture, fixture_bytes

from sidecar.cli.main import build_parser
from sidecar.cli.show import run
from sidecar.dump.reader import DumpReader
from sidecar.dump.writer import write_dump
from sidecar.model.errors import DumpFormatError, DumpTruncatedError

ALLOWED = (DumpFormatError, DumpTruncatedError)
FORMS = [["-o", "json"], ["-o", "strace"], ["--wide"], [], ["--summary"], ["--info"],
         ["--info", "-o", "json"], ["-o", "strace", "--last", "3", "--failed"]]  # fmt: skip
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

# A small valid dump (the header of a real one, its first calls) to cut and mutate.
HEADER, RECORDS = fixture("calls")
SMALL = io.BytesIO()
write_dump(SMALL, HEADER, RECORDS[:25])
VALID = SMALL.getvalue()


def read(data: bytes) -> int:
    """Read a whole file; the number of records, or the project's error."""
    with DumpReader(io.BufferedReader(io.BytesIO(data)), "fuzz.msgpack") as r:
        return sum(1 for _ in r)


@contextmanager
def stdio(data: bytes) -> Iterator[None]:
    """Run with `data` as standard input and standard output thrown away."""
    old_in, old_out = sys.stdin, sys.stdout
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)))
    sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    try:
        yield
    finally:
        sys.stdin, sys.stdout = old_in, old_out


def show(data: bytes, opts: list[str]) -> None:
    args = build_parser().parse_args(["show", "--color", "always", *opts, "-"])
    with stdio(data):
        run(args)


def must_only_raise_ours(data: bytes, opts: list[str] | None = None) -> None:
    with suppress(*ALLOWED):
        read(data)
    for form in [opts] if opts else FORMS:
        with suppress(*ALLOWED):
            show(data, form)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    must_only_raise_ours(data, ["-o", "json"])


@FUZZ
@given(st.integers(min_value=0, max_value=len(VALID) - 1))
def test_every_truncation(cut: int) -> None:
    data = VALID[:cut]
    with pytest.raises(ALLOWED):
        read(data)
    must_only_raise_ours(data)


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=8,
    )
)
def test_mutations(edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(VALID)
    for pos, byte, how in edits:
        pos = min(pos, len(data) - 1)
        if how == "s":
            data[pos] = byte
        elif how == "i":
            data.insert(pos, byte)
        elif len(data) > 1:
            del data[pos]
    must_only_raise_ours(bytes(data))


def header_bytes(**extra: Any) -> bytes:
    packed: bytes = msgpack.packb({"format": "traceloop-dump", "version": 1, **extra})
    return packed


FLOAT_TS = [1, 1.5, None, 0, 1, 1, "c", 0, [0] * 6, 0, []]
HOSTILE = {
    "array declaring 4G entries": header_bytes() + b"\xdd\xff\xff\xff\xff",
    "map declaring 4G entries": header_bytes() + b"\xdf\xff\xff\xff\xff",
    "str declaring 4 GiB": header_bytes() + b"\xdb\xff\xff\xff\xff" + b"x" * 100,
    "bin declaring 4 GiB": header_bytes() + b"\xc6\xff\xff\xff\xff" + b"x" * 100,
    "header str of 2 MiB": b"\x82\xa6format\xdb\x00\x20\x00\x00" + b"x" * (2 << 20),
    "nesting 100,000 deep": header_bytes() + b"\x91" * 100_000 + b"\xc0",
    "nested header": b"\x81\xa1a" + b"\x91" * 50_000 + b"\xc0",
    "ext type": header_bytes() + b"\xd4\x01\x02",
    "record of 11 strings": header_bytes() + msgpack.packb(["x"] * 11),
    "record with float ts": header_bytes() + msgpack.packb(FLOAT_TS),
    "footer lying about the count": VALID[: VALID.rfind(b"\x82")]
    + msgpack.packb({"footer": True, "records": 99}),
    "data after the footer": VALID + b"\x00",
    "second header": VALID[: VALID.rfind(b"\x82")] + header_bytes(),
    "invalid utf-8 in comm": header_bytes() + b"\x9b\x01\x02\xc0\x00\x01\x01\xa2\xff\xfe",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_lengths_and_nesting(name: str) -> None:
    with pytest.raises(ALLOWED):
        read(HOSTILE[name])
    must_only_raise_ours(HOSTILE[name])


# Well-formed dumps whose values are hostile: every type the format allows,
# anywhere a decoder looks (headers of any shape, any ints, any captures).
ints = st.one_of(st.integers(-(2**63), 2**64 - 1), st.sampled_from([0, -1, -2, -100, 2**32 - 100]))
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.text(max_size=20), st.binary(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
real_nrs = st.sampled_from(sorted({r[7] for r in RECORDS}))
caps = st.lists(
    st.tuples(st.integers(-2, 8), st.integers(-1, 7), st.binary(max_size=64), ints).map(list),
    max_size=3,
)
records = st.lists(
    st.tuples(
        ints, ints, st.one_of(st.none(), ints), ints, ints, ints, st.text(max_size=16),
        st.one_of(real_nrs, ints), st.lists(ints, min_size=6, max_size=6),
        st.one_of(st.none(), ints, st.integers(-4095, -1)), caps,
    ).map(list),
    max_size=20,
)  # fmt: skip
headers = st.fixed_dictionaries(
    {},
    optional={
        "syscalls": st.one_of(junk, st.just(HEADER["syscalls"])),
        "captures": st.one_of(junk, st.just(HEADER["captures"])),
        "triggers": st.one_of(junk, st.lists(st.dictionaries(
            st.sampled_from(["reason", "ts_ns", "pid", "tid", "comm", "exit_code", "signal",
                             "time", "detail", "source"]), junk), max_size=3)),
        "pod": junk, "container": junk, "host": junk, "recorder": junk, "counts": junk,
        "window": junk, "created": junk,
    },
)  # fmt: skip


@settings(max_examples=120, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(headers, records, st.sampled_from(FORMS))
def test_hostile_values_in_a_well_formed_dump(
    header: dict[str, Any], recs: list[list[Any]], form: list[str]
) -> None:
    out = io.BytesIO()
    write_dump(out, header, recs)
    data = out.getvalue()
    try:
        n = read(data)
    except ALLOWED:
        return  # e.g. a value the format itself refuses
    assert n == len(recs)
    show(data, form)  # a readable dump always shows: nothing may be raised
    show(data, [*form, "-s", "0"])


def test_fixtures_themselves_read_whole() -> None:
    for name in ("calls", "segv-blocked", "sh-cat"):
        assert read(fixture_bytes(name)) == len(fixture(name)[1])
