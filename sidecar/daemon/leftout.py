"""Containers left unrecorded for want of a container slot (a full table).

Each is logged once, `not recording NAME: table full`, and counted (containers,
beside the kernel's count of the calls they made). The kernel side reports the
ends of their processes too (EventType.UNRECORDED_EXIT), so when such a
container's cgroup empties its end is decided as a recorded one's is, and a
crash (a nonzero or signalled end of its main process) is logged and counted:
no dump can be written, but nothing goes unseen. Touched only by the main loop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sidecar.daemon import metrics
from sidecar.host import cgroups
from sidecar.kernel.loader import Kernel
from sidecar.model.kernel_events import Event
from sidecar.model.trigger import signal_name
from triggers.kernel import Exit, main_exit, recent

log = logging.getLogger("traceloop.daemon")

# How long after a process end an unrecorded cgroup that still looks populated
# is checked again (a runtime takes a moment to reap the last processes).
RECHECK_S = 2.0


@dataclass
class Unrecorded:
    cgroup_id: int
    name: str
    cgroup: cgroups.Cgroup | None  # None: its directory was never found
    exits: list[Exit] = field(default_factory=list)
    last: Event | None = None
    status_unknown: bool = False  # the kernel could not read an exit status


class LeftOut:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.by_id: dict[int, Unrecorded] = {}
        self._pending: list[tuple[float, int]] = []  # (seen, cgroup id) of process ends

    def add(self, cgroup_id: int, name: str, cg: cgroups.Cgroup | None) -> None:
        """A container found no free slot: said once, counted, and its process
        ends reported by the kernel from now on."""
        if cgroup_id in self.by_id:
            return
        self.by_id[cgroup_id] = Unrecorded(cgroup_id, name, cg)
        self.kernel.leave_out(cgroup_id)
        metrics.CONTAINERS_NOT_RECORDED.inc()
        log.warning(
            f"not recording {name}: table full",
            extra={
                "fields": {
                    "cgroup": cg.name if cg is not None else f"id {cgroup_id}",
                    "hint": "raise --memory or --max-containers",
                }
            },
        )

    def recorded(self, cgroup_id: int) -> bool:
        """It got a slot after all (one was freed): no longer left out."""
        if self.by_id.pop(cgroup_id, None) is None:
            return False
        self.kernel.recorded_again(cgroup_id)
        return True

    def exited(self, ev: Event) -> None:
        u = self.by_id.get(ev.cgroup)
        if u is None:
            return
        if ev.code == -1:
            u.status_unknown = True
        else:
            u.exits.append(Exit.from_event(ev))
        u.last = ev
        self._pending.append((time.monotonic(), ev.cgroup))

    def check(self, now: float, everyone: bool = False) -> None:
        """Decide the end of the unrecorded containers whose cgroups emptied:
        those a process end was reported for (each loop), or all (`everyone`,
        at upkeep: a container whose ends were lost to a full ring buffer)."""
        if everyone:
            todo = [(now, cg) for cg in self.by_id]
        else:
            todo, self._pending = self._pending, []
        ended: dict[int, Unrecorded] = {}
        for seen, cg_id in todo:
            u = self.by_id.get(cg_id)
            if u is None or cg_id in ended:
                continue
            if self._alive(u, now - seen):
                if not everyone and now - seen < RECHECK_S:
                    self._pending.append((seen, cg_id))
                continue
            ended[cg_id] = u
        if not ended:
            return
        # Every process end of an emptied cgroup was reported before it
        # emptied, but may still wait in the ring buffer: read them first.
        self.kernel.poll(0)
        for u in ended.values():
            self._ended(u)

    def _alive(self, u: Unrecorded, since_end: float) -> bool:
        if u.cgroup is not None:
            return u.cgroup.populated(u.cgroup_id)
        return since_end < RECHECK_S  # no path to look at: alive until ends stop

    def _ended(self, u: Unrecorded) -> None:
        self.recorded(u.cgroup_id)
        fields: dict[str, object] = {"container": u.name}
        main = main_exit(recent(u.exits, u.last.ts)) if u.last is not None else None
        if main is None:
            unknown = " (the kernel's BTF has none)" if u.status_unknown else ""
            fields["why"] = "no exit status" + unknown
            log.info("container not recorded ended", extra={"fields": fields})
            return
        fields["code"] = main.shell_status
        if main.signal:
            fields["signal"] = signal_name(main.signal)
        fields["pid"] = main.pid
        if main.shell_status == 0:
            log.info("container not recorded exited", extra={"fields": fields})
            return
        metrics.UNRECORDED_CRASHES.inc()
        log.warning(
            "crash of a container not recorded (table full): no dump", extra={"fields": fields}
        )
