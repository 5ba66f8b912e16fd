"""Helpers for the show tests: the recorded fixtures, and dumps made from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import zstandard

from sidecar.cli.main import main
from sidecar.dump.reader import read_all
from sidecar.dump.writer import write_dump

DATA = Path(__file__).resolve().parent / "data"
ROOT = DATA.parent.parent
TRACELOOP = str(ROOT / ".venv" / "bin" / "traceloop")


def fixture_bytes(name: str) -> bytes:
    """The raw (uncompressed) dump recorded from a real program."""
    with zstandard.ZstdDecompressor().stream_reader((DATA / f"{name}.msgpack.zst").open("rb")) as r:
        return r.read()


def fixture(name: str) -> tuple[dict[str, Any], list[list[Any]]]:
    header, records = read_all(fixture_bytes(name), name)
    return {k: v for k, v in header.items() if k not in ("format", "version")}, records


def make_dump(path: Path, header: dict[str, Any], records: list[list[Any]]) -> Path:
    with open(path, "wb") as f:
        write_dump(f, header, records)
    return path


def show(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`traceloop show ARGS` in this process (as the CLI runs it)."""
    capsys.readouterr()
    status = (
        main(["show", "--color", "never", *args])
        if "--color" not in args
        else main(["show", *args])
    )
    out, err = capsys.readouterr()
    return status, out, err


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def compile_c(src: Path, out: Path) -> Path:
    import subprocess

    subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(out), str(src)], check=True)
    return out


def record(cmd: list[str], out_dir: Path) -> Path:
    """Run `cmd` under `traceloop record --always`; the dump it wrote."""
    import subprocess

    subprocess.run(
        [TRACELOOP, "record", "-q", "--always", "--out", str(out_dir), "--", *cmd],
        timeout=120, capture_output=True,
    )  # fmt: skip
    dumps = sorted(out_dir.rglob("*.msgpack"))
    assert len(dumps) == 1, dumps
    return dumps[0]
