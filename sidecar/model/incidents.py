"""One incident, one dump; crash loops rate-limited. Pure: time is passed in.

Triggers about the same container incarnation (cgroup id + slab generation +
the number of times its window was resumed) that arrive within `coalesce`
seconds of the first become one incident, dumped once with all of them. A
trigger for an incarnation already dumped is *late*: it is attached to that
incident (the caller records it next to the dump) instead of a second dump.
Per container, at most `limit` incidents are dumped per `period` seconds, and
per node at most `node_limit` (a flood of distinct containers must not fill
the disk); the rest are counted. A container is known by a name that lives
through its restarts (`rate_key`). A forced trigger (a person asked) is never
limited.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sidecar.model.containers import ContainerRef
from sidecar.model.trigger import Trigger

Key = tuple[int, int, int]  # cgroup id, slab generation, window epoch


class Outcome(Enum):
    NEW = "new"  # a new incident; dump when due
    MERGED = "merged"  # added to a pending incident
    LATE = "late"  # the incident was already dumped
    LIMITED = "limited"  # rate-limited (this container's crash loop): not dumped, counted
    NODE_LIMITED = "node-limited"  # over the node's limit: not dumped, counted


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
    node_limit: int = 100
    pending: dict[Key, Incident] = field(default_factory=dict)
    done: dict[Key, Incident] = field(default_factory=dict)
    limited: int = 0  # incidents over a container's limit
    node_limited: int = 0  # incidents over the node's limit
    _history: dict[str, deque[float]] = field(default_factory=dict)
    _node_history: deque[float] = field(default_factory=deque)
    _limited_keys: dict[Key, Outcome] = field(default_factory=dict)

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
            return self._limited_keys[key], None
        hist = self._history.setdefault(container, deque())
        for h in (hist, self._node_history):
            while h and h[0] <= now - self.period:
                h.popleft()
        if not force:
            if len(hist) >= self.limit:
                self.limited += 1
                self._limited_keys[key] = Outcome.LIMITED
                return Outcome.LIMITED, None
            if len(self._node_history) >= self.node_limit:
                self.node_limited += 1
                self._limited_keys[key] = Outcome.NODE_LIMITED
                return Outcome.NODE_LIMITED, None
        hist.append(now)
        self._node_history.append(now)
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
        self._limited_keys = {k: v for k, v in self._limited_keys.items() if k[0] != cgroup_id}


def rate_key(ref: ContainerRef, pod: Mapping[str, Any] | None = None) -> str:
    """The name a container's crash loop is counted under: one that every restart
    shares. Kubernetes' own (namespace/pod/container, as kubelet keys its
    back-off) when the pod is known; else the pod UID its cgroup path carries;
    else the runtime's name for it."""
    if pod and pod.get("namespace") and pod.get("name") and pod.get("container"):
        return f"{pod['namespace']}/{pod['name']}/{pod['container']}"
    if ref.pod_uid:
        return f"pod {ref.pod_uid}"
    return ref.name
