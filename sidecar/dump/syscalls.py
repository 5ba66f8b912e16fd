"""The syscall table a dump carries: numbers, names, parameters and captures.

Built from tracefs by sidecar.kernel.syscalls when recording; parsed back from a
dump's header, once, by `SyscallTable.from_wire` (which every reader of a dump
uses: `show` decodes through it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Syscall:
    nr: int
    name: str
    params: tuple[Param, ...]
    # What the kernel captured for this number: [arg, kind, len_arg or size]
    # each (the header's `captures`); empty when built from tracefs.
    captures: tuple[tuple[int, ...], ...] = ()


class SyscallTable:
    """Syscalls by number and by name; unknown numbers get `syscall_N`."""

    def __init__(self, syscalls: Iterable[Syscall]) -> None:
        self.by_nr: dict[int, Syscall] = {s.nr: s for s in syscalls}
        self.by_name: dict[str, Syscall] = {s.name: s for s in self.by_nr.values()}

    def name(self, nr: int) -> str:
        s = self.by_nr.get(nr)
        return s.name if s else f"syscall_{nr}"

    def __len__(self) -> int:
        return len(self.by_nr)

    def resolve(self, names: Iterable[str]) -> list[Syscall]:
        """Syscalls for user-given names; an unknown name is a usage error."""
        from sidecar.model.errors import UsageError

        out = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            s = self.by_name.get(name)
            if s is None:
                raise UsageError(f"unknown syscall {name!r} in --syscall-filters")
            out.append(s)
        return out

    def to_wire(self) -> dict[int, list[object]]:
        """The form stored in a dump header: nr -> [name, [[param, type], ...]]."""
        return {
            s.nr: [s.name, [[p.name, p.type] for p in s.params]]
            for s in sorted(self.by_nr.values(), key=lambda s: s.nr)
        }

    @classmethod
    def from_wire(
        cls, wire: Mapping[object, object], captures: Mapping[object, object] | None = None
    ) -> SyscallTable:
        """The table from a header's `syscalls` (and `captures`) maps; entries of
        the wrong shape are left out."""
        caps_by_nr = captures or {}
        out = []
        for nr, entry in wire.items():
            if not isinstance(nr, int) or not isinstance(entry, list | tuple) or len(entry) != 2:
                continue
            name, params = entry
            if not isinstance(name, str) or not isinstance(params, list | tuple):
                continue
            ps = tuple(
                Param(str(p[0]), str(p[1]))
                for p in params
                if isinstance(p, list | tuple) and len(p) == 2
            )
            caps = caps_by_nr.get(nr)
            cs = tuple(tuple(c) for c in caps if _int_list(c)) if isinstance(caps, list) else ()
            out.append(Syscall(nr, name, ps, cs))
        return cls(out)

    @classmethod
    def from_header(cls, header: Mapping[str, Any]) -> SyscallTable:
        """The table of a dump's header (empty when it has none)."""
        wire, caps = header.get("syscalls"), header.get("captures")
        if not isinstance(wire, dict):
            return cls(())
        return cls.from_wire(wire, caps if isinstance(caps, dict) else None)


def _int_list(c: object) -> bool:
    return isinstance(c, list | tuple) and all(isinstance(x, int) for x in c)
