"""One incident, one dump; crash loops rate-limited. Pure: time is passed in.

Triggers about the same container incarnation (cgroup id + slab generation +
the number of times its window was resumed) that arrive within `coalesce`
seconds of the first become one incident, dumped once with all of them. A
trigger for an incarnation already dumped is *late*: it is attached to that
incident (the caller records it next to the dump) instead of a second dump.
Per container name, at most `limit` incidents are dumped per `period`
seconds; the rest are counted. A forced trigger (a person asked) is never
limited.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from sidecar.model.trigger import Trigger

Key = tuple[int, int, int]  # cgroup id, slab generation, window epoch


class Outcome(Enum):
    NEW = "new"  # a new incident; dump when due
    MERGED = "merged"  # added to a pending incident
    LATE = "late"  # the incident was already dumped
    LIMITED = "limited"  # rate-limited: not dumped, counted


@dataclass
class Incident:
    key: Key
    container: str
    triggers: list[Trigger]
    due: float
    location: str | None = None  # where its dump went, once written
    # Set once the incident is settled: dumped (or failed, or not wanted).
    finished: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


@dataclass
class Incidents:
    coalesce: float = 0.25
    limit: int = 5
    period: float = 600.0
    pending: dict[Key, Incident] = field(default_factory=dict)
    done: dict[Key, Incident] = field(default_factory=dict)
    limited: int = 0
    _history: dict[str, deque[float]] = field(default_factory=dict)
    _limited_keys: set[Key] = field(default_factory=set)

    def add(
        self, key: Key, container: str, trigger: Trigger, now: float, *, force: bool = False
    ) -> tuple[Outcome, Incident | None]:
        if key in self.pending:
            self.pending[key].triggers.append(trigger)
            return Outcome.MERGED, self.pending[key]
        if key in self.done:
            self.done[key].triggers.append(trigger)
            return Outcome.LATE, self.done[key]
        if key in self._limited_keys and not force:
            return Outcome.LIMITED, None
        hist = self._history.setdefault(container, deque())
        while hist and hist[0] <= now - self.period:
            hist.popleft()
        if len(hist) >= self.limit and not force:
            self.limited += 1
            self._limited_keys.add(key)
            return Outcome.LIMITED, None
        hist.append(now)
        inc = Incident(key, container, [trigger], now + self.coalesce)
        self.pending[key] = inc
        return Outcome.NEW, inc

    def due(self, now: float) -> list[Incident]:
        """Pending incidents whose coalescing time is over; they move to done."""
        ready = [i for i in self.pending.values() if i.due <= now]
        for inc in ready:
            del self.pending[inc.key]
            self.done[inc.key] = inc
        return ready

    def next_due(self) -> float | None:
        return min((i.due for i in self.pending.values()), default=None)

    def forget(self, cgroup_id: int) -> None:
        """The cgroup is gone for good: drop what is kept about it."""
        for d in (self.done, self.pending):
            for k in [k for k in d if k[0] == cgroup_id]:
                del d[k]
        self._limited_keys = {k for k in self._limited_keys if k[0] != cgroup_id}
