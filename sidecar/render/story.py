"""The runtime's setup in show's text forms: left out, or above a separator.

The strace and table forms print one line where the container's own story
starts (sidecar/render/runtime.py says which calls are setup): without
--include-runtime the setup calls are left out and the line says how many;
with it they are shown above the line. --failed and --summary leave setup out
unless --include-runtime too; JSON marks each call instead (runtime_setup).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar, cast

from sidecar.dump.records import TS
from sidecar.model.text import escape
from sidecar.render.forms import Record
from sidecar.render.runtime import RuntimeMarker, SetupRecord

# The most records held to count the exec'ing process's last setup calls,
# which the dump has after the entrypoint's execve (they entered before it
# returned): an exec takes a few milliseconds, so a handful in practice.
LOOKAHEAD_MAX = 4096


def _calls(n: int) -> str:
    return f"{n:,} call{'' if n == 1 else 's'}"


def _names(marker: RuntimeMarker) -> str:
    """` (runc)`: the runtimes whose tasks made the setup calls, without stages."""
    names = sorted({c.split(":[", 1)[0] for c in marker.comms})
    return f" ({escape(', '.join(names))})" if names else ""


def separator(marker: RuntimeMarker, n: int, shown: bool, own_follow: bool) -> str:
    """The one line between the runtime's setup and the container's own calls."""
    if not marker.started:
        end = "; the entrypoint never ran"
    elif not own_follow:
        end = "; none of the container's own calls matched"
    else:
        end = ""
    if shown:
        end = end or "; the container's own calls follow"
        return f"--- runtime setup{_names(marker)} above: {_calls(n)}{end} ---"
    return (
        f"--- runtime setup{_names(marker)}: {_calls(n)} not shown, "
        f"--include-runtime shows them{end} ---"
    )


def setup_summary(marker: RuntimeMarker) -> str:
    """`1,170 calls (runc) before the entrypoint's execve`, for --info."""
    after = (
        "; the entrypoint never ran" if not marker.started else " before the entrypoint's execve"
    )
    return f"{_calls(marker.setup)}{_names(marker)}{after} (show --include-runtime lists them)"


T = TypeVar("T")


def _same(item: Any) -> Record:
    return cast(Record, item)


class Story(Generic[T]):
    """Drops or passes setup records, and writes the separator line in place.

    The items are records, or anything holding one (`unwrap` finds it: the
    strace form's lines carry their prefix and trigger lines with the record).
    """

    def __init__(
        self,
        marker: RuntimeMarker,
        include: bool,
        emit: Callable[[str], None],
        unwrap: Callable[[T], Record] = _same,
    ) -> None:
        self.marker = marker
        self.include = include
        self.emit = emit
        self.unwrap = unwrap
        self.setup = 0  # setup records that reached the form, or would have
        self.done = False

    def hide(self, records: Iterable[T]) -> Iterator[T]:
        """Without --include-runtime, the records less the setup (counted)."""
        if self.include:
            yield from records
            return
        unwrap = self.unwrap
        for rec in records:
            if unwrap(rec).__class__ is SetupRecord:
                self.setup += 1
            else:
                yield rec

    def records(self, records: Iterable[T]) -> Iterator[T]:
        """The records to show, with the separator written before the first
        own call that follows setup calls (or at the end when none does)."""
        it = iter(records)
        unwrap = self.unwrap
        for rec in it:
            if unwrap(rec).__class__ is SetupRecord:
                self.setup += 1
                if self.include:
                    yield rec
                continue
            if self.setup and not self.done:
                held = [] if self.include else self._lookahead(it)
                self.done = True
                self.emit(separator(self.marker, self.setup, self.include, True))
                yield rec
                yield from held
                continue
            yield rec
        self.close()

    def close(self) -> None:
        """The separator, if setup was shown or left out and no own call followed."""
        if self.setup and not self.done:
            self.done = True
            self.emit(separator(self.marker, self.setup, self.include, False))

    def _lookahead(self, it: Iterator[T]) -> list[T]:
        """The records up to the entrypoint execve's return, less the setup in
        them (counted), so the separator's count is whole."""
        e = self.marker.entry
        held: list[T] = []
        if e is None or e.end is None:
            return held
        unwrap = self.unwrap
        while len(held) < LOOKAHEAD_MAX:
            item = next(it, None)
            if item is None:
                break
            rec = unwrap(item)
            if rec.__class__ is SetupRecord:
                self.setup += 1
            else:
                held.append(item)
            if e.end is not None and rec[TS] >= e.end:
                break
        return held
