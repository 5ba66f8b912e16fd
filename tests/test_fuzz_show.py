"""Structural mutations of the recorded dumps through every `show` mode.

Each example takes one of tests/data's real dumps, changes its structure where
a hostile or damaged file would (a header or record field of the wrong type,
a huge or negative integer, deep nesting, an oversized string or array, a cut,
a compression bomb) and runs `show` on it in child processes under a memory
and time limit (showutil.show_child). Whatever the file, showutil.check_shown
must hold: exit 2 with one line, or 0/1 with valid output; no traceback, no
raw control byte, strict JSON in the JSON modes.

CI runs a fixed, reproducible set (derandomized, about a minute);
TRACELOOP_FUZZ_EXAMPLES=N runs N examples, and TRACELOOP_FUZZ_RANDOM=1 draws
new ones each run.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from showutil import check_shown, fixture, show_child

from sidecar.dump.writer import write_dump

FIXTURES = {name: fixture(name) for name in ("calls", "segv-blocked", "sh-cat")}
MODES = [[], ["--wide"], ["-o", "strace"], ["-o", "json"], ["--info"], ["--info", "-o", "json"],
         ["--summary"], ["--summary", "-o", "json"], ["--failed"], ["--failed", "-o", "json"],
         ["--pid", "1,6059,6552", "--tid", "6552", "-o", "strace"],
         ["--comm", "sh,cat,calls", "--last", "7"], ["--since", "1ms", "-o", "strace"],
         ["--syscall-filters", "openat,read,write", "-s", "0"]]  # fmt: skip
EXAMPLES = int(os.environ.get("TRACELOOP_FUZZ_EXAMPLES", "80"))
DEEP = msgpack.packb("\x00deep-nesting\x00")  # replaced by raw bytes after packing


def paths(v: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a nested value: keys of maps, indexes of arrays."""
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += paths(x, (*prefix, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += paths(x, (*prefix, i))
    return out


HEADER_PATHS = {n: paths(h)[1:] for n, (h, _) in FIXTURES.items()}

CONTROL_TEXT = st.sampled_from(
    ["\x1b[2J\x1b]0;pwned\x07", "a\rb\nc", "\x9b31m", "\x7f\x00", "\udcff".encode(
        "utf-8", "surrogatepass").decode("utf-8", "replace"), "é\u202e日本"]
)  # fmt: skip
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.sampled_from([float("nan"), float("inf"), -0.0, 1.5]),
    st.sampled_from([2**64 - 1, 2**63, -(2**63), -1, 2**32, 0]),
    st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), CONTROL_TEXT,
    st.binary(max_size=16), st.just(b"\x1b[2J"),
    st.builds(lambda n: "x" * n, st.sampled_from([70, 5000, 200_000, 1_100_000])),
    st.builds(lambda n: [0] * n, st.sampled_from([7, 5000, 70_000])),
    st.builds(lambda n: {str(i): i for i in range(n)}, st.sampled_from([3, 5000])),
    st.just(DEEP), st.lists(st.integers(-5, 5), max_size=6),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)  # fmt: skip


def put(root: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> None:
    """Set (or delete) the value at `path`; nothing if an earlier change removed it."""
    try:
        for key in path[:-1]:
            root = root[key]
        if delete and isinstance(root, dict):
            del root[path[-1]]
        else:
            root[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass


def deep_copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_copy(x) for x in v]
    return v


@st.composite
def hostile_dump(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(FIXTURES)))
    header, records = (deep_copy(x) for x in FIXTURES[name])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["header", "new header key", "record", "record part"]))
        if where == "header":
            path = draw(st.sampled_from(HEADER_PATHS[name]))
            put(header, path, draw(HOSTILE), delete=draw(st.booleans()))
        elif where == "new header key":
            header[draw(st.sampled_from(["extra", "window", "pod", "x" * 300]))] = draw(HOSTILE)
        else:
            i = draw(st.integers(0, len(records) - 1))
            if where == "record":
                records[i][draw(st.integers(0, 10))] = draw(HOSTILE)
            else:
                rec_paths = paths(records[i])[1:]
                put(records[i], draw(st.sampled_from(rec_paths)), draw(HOSTILE))
    try:
        out = io.BytesIO()
        write_dump(out, header, records)
        data = out.getvalue()
    except (ValueError, TypeError, OverflowError):
        return b""  # not encodable as msgpack: nothing to read
    if DEEP in data:
        data = data.replace(DEEP, b"\x91" * draw(st.sampled_from([20, 995, 5000])) + b"\xc0", 1)
    ending = draw(st.sampled_from(["whole", "cut", "zstd", "cut zstd", "bomb"]))
    if "cut" in ending:
        data = data[: draw(st.integers(0, len(data) - 1))]
    if "zstd" in ending:
        data = zstandard.ZstdCompressor().compress(data)
    if ending == "bomb":
        data = bomb(data[: data.rfind(b"\x82\xa6footer")], draw(st.sampled_from([1, 7])))
    return data


def bomb(prefix: bytes, depth: int) -> bytes:
    """`prefix`, then ~40 MB of nested arrays that zstd keeps in a few KB."""
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False) as w:
        w.write(prefix + b"\xdc\xff\xff" if depth == 1 else prefix)
        block = (b"\xdc\x00\x10" * depth + b"\xc0" * 16) * 4096
        for _ in range(40 << 20 // len(block)):
            w.write(block)
    return out.getvalue()


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("TRACELOOP_FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.timeout(1800)
def test_mutated_dumps_in_every_mode(workdir: Path) -> None:
    seen: set[int] = set()

    @FUZZ
    @given(hostile_dump(), st.lists(st.sampled_from(range(len(MODES))), min_size=2, max_size=2))
    def run(data: bytes, modes: list[int]) -> None:
        path = workdir / "fuzz.msgpack"
        path.write_bytes(data)
        for m in modes:
            seen.add(m)
            check_shown(MODES[m], show_child(*MODES[m], str(path), timeout=60))

    run()
    # A fixed set of examples still goes through every mode at least once.
    for m in set(range(len(MODES))) - seen:
        path = workdir / "fuzz.msgpack"
        check_shown(MODES[m], show_child(*MODES[m], str(path), timeout=60))
