"""Helpers for the show tests: the recorded fixtures, and dumps made from them."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
from collections.abc import Sequence
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


def pod_dump(
    root: Path, d: str, ns: str, pod: str, container: str, time: str, reason: str,
    node: str = "node-7",
) -> Path:  # fmt: skip
    """A real recording (tests/data/calls) whose header names a pod, as a daemon
    on `node` writes it to `root/d/`."""
    header, records = fixture("calls")
    header["triggers"] = [{**header["triggers"][0], "time": time, "reason": reason}]
    header["pod"] = {"node": node, "namespace": ns, "name": pod, "uid": f"uid-{pod}",
                     "container": container, "container_id": "c" * 64, "image": "img"}  # fmt: skip
    stamp = time.replace(":", "").replace("-", "")
    (root / d).mkdir(parents=True, exist_ok=True)
    return make_dump(root / d / f"{stamp}-{reason}-{node}-{pod}.msgpack", header, records)


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
    subprocess.run(["gcc", "-O1", "-static", "-pthread", "-o", str(out), str(src)], check=True)
    return out


def record(cmd: list[str], out_dir: Path) -> Path:
    """Run `cmd` under `traceloop record --always`; the dump it wrote."""
    subprocess.run(
        [TRACELOOP, "record", "-q", "--always", "--out", str(out_dir), "--", *cmd],
        timeout=120, capture_output=True,
    )  # fmt: skip
    dumps = sorted(out_dir.rglob("*.msgpack"))
    assert len(dumps) == 1, dumps
    return dumps[0]


# --- a `show` in a child process, under limits ------------------------------

MEMORY_LIMIT = 1 << 30  # address space of the child: a dump must not need more
# A raw control byte: C0 other than \n and \t, DEL, and C1 (as UTF-8, C2 80..9F;
# a terminal in UTF-8 mode can read U+009B as CSI).
CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def show_child(
    *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """`traceloop show ARGS` in a new process with at most MEMORY_LIMIT of
    address space, its output as bytes (what a terminal would get)."""
    return subprocess.run(
        [TRACELOOP, "show", "--color", "never", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        preexec_fn=_limits,
        env={**os.environ, "COLUMNS": "120"},
    )


def _strict_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


def check_shown(args: Sequence[str], res: subprocess.CompletedProcess[bytes]) -> None:
    """What every `show` must do, whatever the file: exit 2 with exactly one
    line on stderr, or exit 0 (nothing on stderr) or 1 (one line) with valid
    output; never a traceback, never a raw control byte."""
    where = f"show {' '.join(args)}: exit {res.returncode}, stderr {res.stderr[-2000:]!r}"
    assert b"Traceback" not in res.stderr, where
    assert res.returncode in (0, 1, 2), where
    err_lines = res.stderr.splitlines()
    if res.returncode == 0:
        assert not res.stderr, where
    else:
        assert len(err_lines) == 1 and res.stderr.endswith(b"\n"), where
        assert err_lines[0].startswith(b"traceloop: error: "), where
    assert not CONTROL.search(res.stderr), where
    m = CONTROL.search(res.stdout)
    assert m is None, (where, res.stdout[max(0, m.start() - 80) : m.end() + 80])
    if "json" in args:
        for line in res.stdout.splitlines():
            json.loads(line, parse_constant=_strict_constant)
    if res.returncode != 2:
        res.stdout.decode("utf-8")  # valid UTF-8 throughout
