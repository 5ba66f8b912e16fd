"""Record the dumps under tests/data/ from real processes (run as root).

    .venv/bin/python tests/data/make_fixtures.py

Each program runs under `traceloop record` (eBPF, a fresh cgroup); the dump is
stored zstd-compressed (`.msgpack.zst`, a form `show` reads like any other) to
keep the repository small. Then refresh the expected outputs with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_show_golden.py` and
review the diff.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TRACELOOP = ROOT / ".venv" / "bin" / "traceloop"
WORK = Path("/tmp/traceloop-fixtures")  # fixed: the path shows in the dumps

FIXTURES = {
    # name: (program source or None, command)
    "calls": ("calls.c", [str(WORK / "calls"), str(WORK)]),
    "segv-blocked": ("blocked.c", [str(WORK / "blocked")]),
    "sh-cat": (
        None,
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "sh", "-c",
         "cat /etc/hostname /nonexistent; sleep 0.2 & exit 3"],
    ),
}  # fmt: skip


def record(name: str, cmd: list[str]) -> Path:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([str(TRACELOOP), "record", "-q", "--always", "--out", out, "--", *cmd])
        dumps = list(Path(out).rglob("*.msgpack"))
        if len(dumps) != 1:
            sys.exit(f"{name}: expected one dump, found {dumps}")
        dest = HERE / f"{name}.msgpack.zst"
        dest.write_bytes(zstandard.ZstdCompressor(level=19).compress(dumps[0].read_bytes()))
        return dest


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for name, (src, cmd) in FIXTURES.items():
        if src:
            exe = WORK / Path(src).stem
            subprocess.run(
                ["gcc", "-O1", "-static", "-pthread", "-o", str(exe), str(HERE / src)], check=True
            )
        print(record(name, cmd))


if __name__ == "__main__":
    main()
