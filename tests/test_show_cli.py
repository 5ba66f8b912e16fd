"""`traceloop show` as a user runs it: files that are not dumps, truncated and
damaged dumps, several dumps, standard input, options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from showutil import TRACELOOP, fixture, fixture_bytes, make_dump

from sidecar.dump.records import VERSION


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACELOOP, "show", "--color", "never", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=60,
    )


def one_error_line(err: str, *words: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("traceloop: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, err)


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dumps") / "good.msgpack"
    path.write_bytes(fixture_bytes("sh-cat"))
    return path


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.msgpack", b"", ["empty"]),
        ("notes.txt", b"this is not a dump\n" * 20, ["not a traceloop dump"]),
        ("doc.json", json.dumps({"format": "traceloop-dump", "records": []}).encode(), []),
        ("other.msgpack", msgpack.packb({"hello": "world", "n": [1, 2, 3]}), ["not a traceloop"]),
        ("list.msgpack", msgpack.packb([1, 2, 3]), ["not a traceloop dump"]),
        ("newer.msgpack", msgpack.packb({"format": "traceloop-dump", "version": VERSION + 1}),
         ["newer", "upgrade"]),
        ("zstd-junk.msgpack.zst", b"\x28\xb5\x2f\xfd" + b"\x00" * 40, []),
    ],
)  # fmt: skip
def test_not_a_dump_is_one_line_and_status_2(
    tmp_path: Path, name: str, content: bytes, words: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    r = run(str(path))
    assert r.returncode == 2, r
    assert r.stdout == ""
    one_error_line(r.stderr, str(path), *words)


def test_missing_file(tmp_path: Path) -> None:
    r = run(str(tmp_path / "nope.msgpack"))
    assert r.returncode == 2
    one_error_line(r.stderr, "nope.msgpack", "cannot open")


def test_truncated_dump_shows_what_it_has_then_says_so(tmp_path: Path) -> None:
    data = fixture_bytes("sh-cat")
    _, records = fixture("sh-cat")
    path = tmp_path / "cut.msgpack"
    path.write_bytes(data[: len(data) * 2 // 3])
    r = run("-o", "json", str(path))
    assert r.returncode == 1, r
    shown = [json.loads(line) for line in r.stdout.splitlines()]
    assert 0 < len(shown) < len(records)
    assert [s["seq"] for s in shown] == [rec[0] for rec in records[: len(shown)]]
    one_error_line(r.stderr, str(path), "truncated")
    # the table and the summary too: the records first, then the message
    r = run("--summary", str(path))
    assert r.returncode == 1 and "total" in r.stdout
    one_error_line(r.stderr, "truncated")
    r = run("--info", str(path))
    assert r.returncode == 1 and "TRUNCATED" in r.stdout and "nonzero-exit" in r.stdout
    one_error_line(r.stderr, "truncated")


def test_corrupt_record_after_good_ones(tmp_path: Path) -> None:
    header, records = fixture("sh-cat")
    bad = [*records[:10], [1, 2, 3], *records[10:]]
    path = make_dump(tmp_path / "bad.msgpack", header, bad)
    r = run("-o", "strace", str(path))
    assert r.returncode == 2
    assert len(r.stdout.splitlines()) == 10
    one_error_line(r.stderr, "malformed record #11")


def test_several_dumps_each_under_its_name(tmp_path: Path, good: Path) -> None:
    empty = tmp_path / "empty.msgpack"
    empty.write_bytes(b"")
    r = run("-o", "strace", str(good), str(empty), str(good))
    assert r.returncode == 2
    assert r.stdout.count(f"==> {good} <==") == 2
    assert f"==> {empty} <==" not in r.stdout
    one_error_line(r.stderr, str(empty), "empty")
    r = run("-o", "json", str(good), str(good))
    files = {json.loads(line)["file"] for line in r.stdout.splitlines()}
    assert r.returncode == 0 and files == {str(good)}


def test_standard_input_plain_and_zstd(good: Path) -> None:
    plain = run("-o", "strace", str(good)).stdout
    assert run("-o", "strace", "-", stdin=good.read_bytes()).stdout == plain
    zst = (Path(__file__).parent / "data" / "sh-cat.msgpack.zst").read_bytes()
    assert run("-o", "strace", "-", stdin=zst).stdout == plain


def test_bad_options_are_usage_errors(good: Path) -> None:
    r = run("--syscall-filters", "openat,nosuchcall", str(good))
    assert r.returncode == 2
    one_error_line(r.stderr, "nosuchcall")
    for opt in (["--last", "0"], ["--since", "soon"], ["--pid", "x"], ["-s", "-1"]):
        r = run(*opt, str(good))
        assert r.returncode == 2 and "Traceback" not in r.stderr, opt
    r = run("--info", "--summary", str(good))
    assert r.returncode == 2


def test_broken_pipe_is_quiet(good: Path) -> None:
    r = subprocess.run(
        f"{TRACELOOP} show -o json {good} {good} {good} | head -1",
        shell=True, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.stderr == "" and len(r.stdout.splitlines()) == 1


def test_show_imports_neither_the_kernel_side_nor_boto3(good: Path) -> None:
    """A viewer starts fast: only the chosen subcommand's modules load."""
    code = (
        "import sys; from sidecar.cli import main\n"
        f"rc = main(['show', '-o', 'json', {str(good)!r}])\n"
        "print(rc, sorted(m for m in ('numpy', 'bcc', 'boto3', 'kubernetes') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stderr.strip().splitlines()[-1] == "0 []", res.stderr
    assert res.stdout.count("\n") > 10
