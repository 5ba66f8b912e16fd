"""The --summary form, like `strace -c`: per syscall, time, calls and errors.

Time is the recorded duration of each call (entry to exit, wall clock), not
strace's system time; calls that had not returned count as calls but add no
time. Sorted by total time, then calls, then name, with a total row.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sidecar.dump.records import SIGNAL
from sidecar.render.forms import Calls, Record
from sidecar.render.output import Output, json_text

RULE = "------ ----------- ----------- --------- --------- ----------------"


class SummaryForm:
    def __init__(self, calls: Calls, as_json: bool = False, file: str | None = None) -> None:
        self.calls = calls
        self.as_json = as_json
        self.file = file
        # nr -> [calls, errors, total ns, calls with a duration]
        self.rows: dict[int, list[int]] = {}

    def add(self, records: Iterable[Record]) -> None:
        rows = self.rows
        for rec in records:
            nr, ret, dur = rec[7], rec[9], rec[2]
            if nr == SIGNAL:
                continue  # a delivery, not a call (strace -c counts none either)
            row = rows.get(nr)
            if row is None:
                row = rows[nr] = [0, 0, 0, 0]
            row[0] += 1
            if ret is not None and -4095 <= ret < 0:
                row[1] += 1
            if dur is not None:
                row[2] += dur
                row[3] += 1

    def table(self) -> list[tuple[str, int, int, int, int]]:
        """(name, calls, errors, total ns, timed calls), largest time first."""
        # Text shows the names escaped (the dump's table gives them); JSON escapes its own.
        get = self.calls.get
        out = [
            (get(nr).name if self.as_json else get(nr).text_name, r[0], r[1], r[2], r[3])
            for nr, r in self.rows.items()
        ]
        out.sort(key=lambda r: (-r[3], -r[1], r[0]))
        return out

    def text(self) -> list[str]:
        rows = self.table()
        total_ns = sum(r[3] for r in rows)
        lines = ["% time     seconds  usecs/call     calls    errors syscall", RULE]

        def row(name: str, calls: int, errors: int, ns: int, timed: int) -> str:
            pct = 100.0 * ns / total_ns if total_ns else 0.0
            per = ns // timed // 1000 if timed else 0
            err = str(errors) if errors else ""
            return f"{pct:6.2f} {ns / 1e9:11.6f} {per:11d} {calls:9d} {err:>9} {name}"

        lines += [row(*r) for r in rows]
        lines.append(RULE)
        lines.append(
            row(
                "total",
                sum(r[1] for r in rows),
                sum(r[2] for r in rows),
                total_ns,
                sum(r[4] for r in rows),
            )
        )
        return lines

    def json(self) -> list[str]:
        rows = self.table()
        total_ns = sum(r[3] for r in rows)
        out = []
        for name, calls, errors, ns, timed in rows:
            obj: dict[str, Any] = {
                "syscall": name,
                "calls": calls,
                "errors": errors,
                "time_ns": ns,
                "mean_ns": ns // timed if timed else None,
                "time_pct": round(100.0 * ns / total_ns, 2) if total_ns else 0.0,
            }
            if self.file is not None:
                obj["file"] = self.file
            out.append(json_text(obj))
        return out

    def run(self, records: Iterable[Record], out: Output) -> None:
        try:
            self.add(records)
        finally:
            # A truncated dump still gets the summary of what it held.
            out.lines(self.json() if self.as_json else self.text())
