"""Golden tests: each output form of dumps recorded from real processes.

The dumps in tests/data/ were recorded by `traceloop record` from the programs
beside them (tests/data/make_fixtures.py); tests/golden/ holds what `show`
printed for them, reviewed by hand when written. Regenerate after an intended
change with UPDATE_GOLDEN=1, review the diff and run again without it: a run
that writes golden files fails, so it can never pass for a check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sidecar.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("tests/data")  # relative: `show` prints the name it is given
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ["calls", "segv-blocked", "sh-cat"]

CASES: dict[str, list[str]] = {
    "table": ["--wide"],
    "table-80": [],  # fit to an 80-column terminal
    "table-160": [],
    "strace": ["-o", "strace"],
    "json": ["-o", "json"],
    "info": ["--info"],
    "info-json": ["--info", "-o", "json"],
    "summary": ["--summary"],
    "failed-strace": ["-o", "strace", "--failed"],
}
COLUMNS = {"table-80": "80", "table-160": "160"}


def show(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["show", "--color", "never", *args])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def _cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fixture", FIXTURES)
def test_golden(
    fixture: str, case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", COLUMNS.get(case, "100"))
    status, out, err = show([*CASES[case], str(DATA / f"{fixture}.msgpack.zst")], capsys)
    assert (status, err) == (0, "")
    golden = GOLDEN / f"{fixture}.{case}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        same = golden.exists() and golden.read_text() == out
        if not same:
            golden.write_text(out)
        pytest.fail(
            f"UPDATE_GOLDEN=1: {golden.name} {'unchanged' if same else 'rewritten'}; "
            "review the diff, then run without UPDATE_GOLDEN"
        )
    assert out == golden.read_text(), f"differs from {golden} (UPDATE_GOLDEN=1 to rewrite)"


def test_table_lines_fit_the_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for cols in (30, 60, 80, 132, 200):
        monkeypatch.setenv("COLUMNS", str(cols))
        _, out, _ = show([str(DATA / "sh-cat.msgpack.zst")], capsys)
        widths = [len(line) for line in out.splitlines()]
        assert max(widths) <= cols, cols
        assert any("…" in line for line in out.splitlines())


def test_wide_never_cuts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    _, out, _ = show(["--wide", str(DATA / "sh-cat.msgpack.zst")], capsys)
    assert "…" not in out
    assert 'filename="/usr/share/locale/locale.alias", flags=O_RDONLY|O_CLOEXEC 3' in out
    assert "-1 ENOENT (No such file or directory)" in out
