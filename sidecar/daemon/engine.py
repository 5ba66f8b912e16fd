"""`traceloop daemon`: record every container under a cgroup root; dump on crash.

Shaped like a bcc tool: options -> kernel settings -> load -> attach -> poll.
The kernel side hands slabs to new cgroups by itself and reports them, and
reports triggers, through its ring buffer; this loop names the containers,
turns triggers into incidents, and has incidents dumped by a small worker
pool (sidecar/daemon/dumper.py), so a slow sink never stalls the polling.
All registry state is touched only by the main loop; other threads (control
socket, Kubernetes watch, dump workers) hand work to it through `self.calls`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sidecar.daemon import metrics
from sidecar.daemon.dumper import Dumper
from sidecar.daemon.enrichment import Enrichment, Nothing
from sidecar.daemon.leftout import LeftOut
from sidecar.daemon.settings import DaemonSettings
from sidecar.daemon.tracked import Tracked
from sidecar.host import cgroups
from sidecar.host.watch import CgroupWatch
from sidecar.kernel.loader import Kernel
from sidecar.kernel.recorder import Recorder
from sidecar.model.clock import boot_offset_ns, iso, time_boot_ns
from sidecar.model.containers import ContainerRef, identify
from sidecar.model.errors import TraceloopError, UsageError
from sidecar.model.incidents import Incident, Incidents, Outcome, rate_key
from sidecar.model.kernel_events import Event, EventType, Reason
from sidecar.model.trigger import Trigger
from sidecar.sinks.base import Sink
from triggers.kernel import (
    MAIN_END_NS,
    Exit,
    awaits_core,
    container_end,
    note_end,
    trigger_from_event,
)
from triggers.manual import check_request, manual_trigger, named

log = logging.getLogger("traceloop.daemon")

# The longest a dump waits for a process killed by a core-dumping signal to
# end (the kernel writes the core first), so its trigger can say whether it
# dumped core; the window is frozen already, so waiting changes nothing else.
CORE_WAIT = 5.0


@dataclass
class Daemon:
    kernel: Kernel
    root: cgroups.Cgroup
    sinks: list[Sink]
    settings: DaemonSettings
    incidents: Incidents
    enrichment: Enrichment = field(default_factory=Nothing)
    tracked: dict[int, Tracked] = field(default_factory=dict)
    calls: queue.Queue[Callable[[], None]] = field(default_factory=queue.Queue)
    health: metrics.Health = field(default_factory=metrics.Health)
    stopping: threading.Event = field(default_factory=threading.Event)
    exits: list[tuple[float, Event]] = field(default_factory=list)
    # Incidents held back for a core dump to end: when they were due before.
    core_waits: dict[tuple[int, int, int], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offset = boot_offset_ns()
        self.recorder = Recorder(self.kernel)
        self.running_before: set[int] = set()  # containers that ran when we started
        self.started = ""
        self.dumper = Dumper(
            self.kernel,
            self.recorder,
            self.sinks,
            self.settings,
            self.enrichment,
            lambda t: self.calls.put(lambda: self._after_dump(t)),
        )
        self.watch = CgroupWatch(self.root)
        self.table_full_seen = 0
        self.left_out = LeftOut(self.kernel)

    # -- start-up --------------------------------------------------------
    def ignore_host_cgroups(self) -> int:
        """Cgroups that exist now and are not containers never get a slab. The
        containers that run already get one now, without waiting for their
        next call (an idle one killed before it made a call would leave
        nothing), or are said to be left out when the table is full; their
        dumps say that recording began after they started. Returns the number
        of host cgroups ignored."""
        n = 0
        own = cgroups.current()
        self.started = iso(time_boot_ns() + self.offset)
        for cg in [self.root, *cgroups.walk(self.root)]:
            try:
                ref = identify(cg.name)
                if cg.path == own.path or ref is None:
                    self.kernel.ignore(cg.id)
                    n += 1
                elif cg != self.root and cg.has_procs():
                    cg_id = cg.id
                    self.running_before.add(cg_id)
                    got = self.kernel.adopt(cg_id)
                    if got is None:
                        self.left_out.add(cg_id, ref.name, cg)
                    else:
                        self._track(cg_id, got[0], got[1], ref, cg)
            except OSError:
                continue
        return n

    # -- the loop ----------------------------------------------------------
    def run(self) -> None:
        last_maint = 0.0
        while not self.stopping.is_set():
            self.kernel.poll(100)
            self._drain_calls()
            now = time.monotonic()
            self._check_exits(now)
            for inc in self.incidents.due(now):
                self._start_dump(inc)
            if now - last_maint > 2.0:
                self._maintain(now)
                last_maint = now
            self.health.tick()

    def call(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run `fn` on the main loop and return its result (for other threads)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def wrapped() -> None:
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the caller's thread
                fut.set_exception(e)

        self.calls.put(wrapped)
        return fut.result(timeout)

    def _drain_calls(self) -> None:
        while True:
            try:
                fn = self.calls.get_nowait()
            except queue.Empty:
                return
            fn()

    # -- kernel events -----------------------------------------------------
    def on_event(self, ev: Event) -> None:
        if ev.type == EventType.NEW_SLAB:
            self._new_slab(ev)
        elif ev.type == EventType.TRIGGER:
            t = self._tracked_for(ev)
            if t is None:
                return
            trig = trigger_from_event(ev, self.offset)
            if ev.reason & self.kernel.cfg.main_only:
                # Counts only if the container ends with it: decided when the
                # cgroup empties (see _check_exits).
                t.candidates.append(trig)
                self.exits.append((time.monotonic(), ev))
                return
            metrics.TRIGGERS.labels(trig.reason).inc()
            self._add(t, trig)
            self._await_core(t, trig)
        elif ev.type == EventType.TABLE_FULL:
            self._table_full(ev.cgroup)
        elif ev.type == EventType.UNRECORDED_EXIT:
            self.left_out.exited(ev)
        elif ev.type == EventType.GROUP_EXIT:
            t = self._tracked_for(ev)
            if t is not None:
                # The exiting task is still in its cgroup at this tracepoint:
                # check for emptiness shortly after.
                t.last_exit = ev
                t.ends.append(Exit.from_event(ev))
                self.exits.append((time.monotonic(), ev))
                self._core_known(t, ev)

    def _await_core(self, t: Tracked, trig: Trigger) -> None:
        """Hold the incident of a core-dumping signal until its process ends
        (at most CORE_WAIT seconds more)."""
        inc = self.incidents.pending.get(t.key)
        if inc is None or not awaits_core(trig):
            return
        self.core_waits.setdefault(inc.key, inc.due)
        inc.due = max(inc.due, time.monotonic() + CORE_WAIT)

    def _core_known(self, t: Tracked, ev: Event) -> None:
        """A process ended: its fatal-signal triggers learn whether it dumped
        core, and an incident held for that is due as it was before."""
        inc = self.incidents.pending.get(t.key)
        note_end([*t.candidates, *(inc.triggers if inc else [])], ev)
        # Without BTF the kernel cannot tell: the process's end is enough.
        if (
            inc is not None
            and inc.key in self.core_waits
            and not any(awaits_core(x) and x.pid != ev.pid for x in inc.triggers)
        ):
            inc.due = min(inc.due, max(self.core_waits.pop(inc.key), time.monotonic()))

    def _tracked_for(self, ev: Event) -> Tracked | None:
        """The container an event is about. Another CPU of a brand-new cgroup
        can report before the CPU that adopted the slab: adopt it here then."""
        t = self.tracked.get(ev.cgroup)
        if t is None and int(self.kernel.meta[ev.slab]["cgroup"]) == ev.cgroup:
            self._new_slab(ev)
            t = self.tracked.get(ev.cgroup)
        return t if t is not None and t.gen == ev.gen else None

    def _path_of(self, ev: Event) -> cgroups.Cgroup | None:
        """The cgroup of a new slab: as the kernel read its path at adoption
        (exact, even for a directory already removed), else as the watch or a
        scan finds it."""
        names = self.kernel.path_names(ev.slab, ev.gen, ev.cgroup)
        if names:
            cg = cgroups.Cgroup(self.root.path.joinpath(*map(os.fsdecode, names)), self.root.mount)
            self.watch.resolved(ev.cgroup, cg)
            return cg
        return self.watch.lookup(ev.cgroup) or cgroups.find_by_id(self.root, ev.cgroup)

    def _table_full(self, cgroup_id: int) -> None:
        """The kernel found no free slot for a cgroup (reported once per cgroup)."""
        if cgroup_id in self.tracked or cgroup_id in self.left_out.by_id:
            return
        cg = self.watch.lookup(cgroup_id) or cgroups.find_by_id(self.root, cgroup_id)
        ref = identify(cg.name) if cg is not None else None
        if cg is not None and ref is None:
            self.kernel.ignore(cgroup_id)  # a host cgroup: never recorded anyway
            self.kernel.recorded_again(cgroup_id)
            return
        self.left_out.add(cgroup_id, ref.name if ref else f"cgroup-{cgroup_id}", cg)

    def _new_slab(self, ev: Event) -> None:
        if ev.cgroup in self.tracked:
            return
        cg = self._path_of(ev)
        if cg is None:
            # Created and removed faster than we could look (a container that
            # crashed at once): keep recording it under its id rather than
            # lose a crash. Host cgroups are long-lived and found above.
            ref = ContainerRef(f"cgroup-{ev.cgroup}", str(ev.cgroup), "", None, "")
            cg = cgroups.Cgroup(self.root.path / f".gone-{ev.cgroup}", self.root.mount)
        else:
            found = identify(cg.name)
            if found is None:
                self.kernel.ignore(ev.cgroup)
                log.debug("not a container", extra={"fields": {"cgroup": cg.name}})
                return
            ref = found
        partial = None
        if self.left_out.recorded(ev.cgroup):
            # Left out while the table was full; recorded since a slot freed up.
            partial = {
                "complete": False,
                "why": "no container slot was free when it started",
                "since": iso(ev.ts + self.offset),
            }
        self._track(ev.cgroup, ev.slab, ev.gen, ref, cg, partial)
        # Slabs are handed out by the kernel itself: keep its free list stocked.
        self._reclaim(time.monotonic())

    def _track(
        self,
        cgroup_id: int,
        slab: int,
        gen: int,
        ref: ContainerRef,
        cg: cgroups.Cgroup,
        partial: dict[str, Any] | None = None,
    ) -> None:
        t = Tracked(cgroup_id, slab, gen, ref, cg, partial=partial)
        if cgroup_id in self.running_before:
            t.partial = {
                "complete": False,
                "why": "running before the recorder started",
                "since": self.started,
            }
        t.pod = self.enrichment.pod_of(ref)
        self.tracked[cgroup_id] = t
        self._count()
        log.info(
            "recording container",
            extra={"fields": {"container": ref.name, "cgroup": cg.name, "slab": slab}},
        )
        self.enrichment.recorded(ref)

    def _count(self) -> None:
        """The containers gauges: live ones recorded, ended ones kept."""
        alive = sum(1 for t in self.tracked.values() if t.alive)
        metrics.CONTAINERS.set(alive)
        metrics.KEPT.set(len(self.tracked) - alive)

    def untrack(self, t: Tracked, why: str) -> bool:
        """Stop recording a container for good (a pod's sandbox): the kernel
        ignores its cgroup from now on and its slab goes back to the free list.
        Not while a dump of it waits or is being written."""
        busy = {k[0] for k in self.incidents.pending} | self.dumper.writing()
        if self.tracked.get(t.cgroup_id) is not t or t.cgroup_id in busy:
            return False
        self.kernel.ignore(t.cgroup_id)
        del self.tracked[t.cgroup_id]
        self.watch.forget(t.cgroup_id)
        self.incidents.forget(t.cgroup_id)
        self._count()
        log.info(
            "not recording container",
            extra={"fields": {"container": t.ref.name, "cgroup": t.cgroup.name, "why": why}},
        )
        return True

    def _check_exits(self, now: float) -> None:
        self.left_out.check(now)
        if not self.exits:
            return
        pending, self.exits = self.exits, []
        empty: dict[int, Tracked] = {}
        for seen, ev in pending:
            t = self.tracked.get(ev.cgroup)
            if t is None or not t.alive or t.cgroup_id in empty:
                continue
            if not t.cgroup.populated(t.cgroup_id):
                empty[t.cgroup_id] = t
            elif now - seen < 2.0:
                self.exits.append((seen, ev))
        if not empty:
            return
        # Every exit of an emptied cgroup was reported before it emptied:
        # drain the ring buffer so the decision sees all of them.
        self.kernel.poll(0)
        for t in empty.values():
            if t.alive:
                self._ended(t)

    def _ended(self, t: Tracked) -> None:
        """The container's cgroup emptied or vanished: the one place where it
        is declared dead, so its triggers are decided whoever noticed first."""
        if t.last_exit is not None:
            self._container_died(t, t.last_exit)
        else:  # no exit seen (it was already running when we started)
            t.alive, t.died_at = False, time.monotonic()
            self.kernel.freeze(t.slab)
        self._count()

    def _container_died(self, t: Tracked, ev: Event) -> None:
        t.alive = False
        t.died_at = time.monotonic()
        self.kernel.freeze(t.slab)
        found, code = container_end(
            ev,
            t.candidates,
            t.ends,
            self.offset,
            container_exit=bool(int(self.kernel.cfg.triggers) & Reason.CONTAINER_EXIT),
            dump_on_exit=self.settings.dump_on_exit,
        )
        t.exit_code = code
        t.candidates = []
        log.info("container exited", extra={"fields": {"container": t.ref.name, "code": code}})
        for trig in found:
            metrics.TRIGGERS.labels(trig.reason).inc()
            self._add(t, trig)

    # -- incidents ---------------------------------------------------------
    def _add(self, t: Tracked, trig: Trigger, force: bool = False) -> Outcome:
        counted = self.incidents.limited + self.incidents.node_limited
        key = rate_key(t.ref, t.pod)
        outcome, inc = self.incidents.add(t.key, key, trig, time.monotonic(), force=force)
        if outcome is Outcome.NEW and inc is not None and self.settings.grace:
            inc.due = max(inc.due, time.monotonic() + self.settings.grace)
        if outcome in (Outcome.LIMITED, Outcome.NODE_LIMITED):
            if self.incidents.limited + self.incidents.node_limited > counted:
                scope = "container" if outcome is Outcome.LIMITED else "node"
                metrics.RATE_LIMITED.labels(scope).inc()
                log.warning(
                    "incident rate-limited "
                    + ("(crash loop)" if scope == "container" else "(node-wide limit)"),
                    extra={"fields": {"container": t.ref.name, "as": key, "reason": trig.reason}},
                )
            if t.alive:
                self.kernel.thaw(t.slab)
        elif outcome is Outcome.LATE and inc is not None:
            log.info(
                "late trigger for an incident already dumped",
                extra={
                    "fields": {"container": t.ref.name, "reason": trig.reason, "dump": inc.location}
                },
            )
            self.enrichment.late(inc, trig, t.pod or self.enrichment.pod_of(t.ref))
        return outcome

    def trigger(
        self, match: Callable[[Tracked], bool], trig: Trigger, force: bool = False
    ) -> list[Incident]:
        """Add `trig` to every tracked container `match` accepts (main loop only)."""
        out = []
        for t in list(self.tracked.values()):
            if match(t):
                self._add(t, trig, force)
                inc = self.incidents.pending.get(t.key) or self.incidents.done.get(t.key)
                if inc:
                    out.append(inc)
        return out

    def _start_dump(self, inc: Incident) -> None:
        self.core_waits.pop(inc.key, None)
        t = self.tracked.get(inc.key[0])
        if t is None:
            inc.finished.set()
            return
        self.dumper.start(inc, t)

    def _after_dump(self, t: Tracked) -> None:
        if t.alive and t.cgroup.populated(t.cgroup_id):
            # The container lives on (a child crashed, or a manual dump):
            # resume recording; a later crash is a new incident.
            t.epoch += 1
            self.kernel.thaw(t.slab)

    # -- upkeep --------------------------------------------------------------
    def _maintain(self, now: float) -> None:
        for t in list(self.tracked.values()):
            # Keep the last burst of exits and candidates, measured from the newest
            # of them rather than from now: a daemon that lagged behind the kernel
            # must still find the exits that ended a container.
            newest = max([e.ts_ns for e in t.ends] + [c.ts_ns for c in t.candidates], default=0)
            t.candidates = [c for c in t.candidates if newest - c.ts_ns <= 2 * MAIN_END_NS]
            t.ends = [e for e in t.ends if newest - e.ts_ns <= 2 * MAIN_END_NS]
            if t.alive and not t.cgroup.populated(t.cgroup_id):
                # Removed between two exit checks: its exits are in, or still
                # in the ring buffer.
                self.kernel.poll(0)
                self._ended(t)
        self._reclaim(now)
        self.left_out.check(now, everyone=True)
        gone = self.kernel.drop_forgotten(lambda cg: cgroups.find_by_id(self.root, cg) is not None)
        for cg_id in gone:
            self.watch.forget(cg_id)
        self.refresh_metrics()
        full = self.kernel.stats()["table_full"]
        if full > self.table_full_seen:
            log.warning(
                "slab table full: new containers' syscalls were not recorded "
                "(raise --max-containers)",
                extra={"fields": {"syscalls_lost": full - self.table_full_seen}},
            )
            self.table_full_seen = full

    def _reclaim(self, now: float) -> None:
        """Return slabs of dead containers to the kernel: the expired ones, and the
        oldest already-dumped ones whenever fewer than a few slabs are free."""
        n = self.kernel.settings.containers
        reserve = max(2, n // 4)
        # A slab is reused only once its dump is written: an incident waiting
        # to be dumped, or being dumped, keeps it.
        busy = {k[0] for k in self.incidents.pending} | self.dumper.writing()
        dead = sorted(
            (t for t in self.tracked.values() if not t.alive and t.cgroup_id not in busy),
            key=lambda t: (t.key not in self.incidents.done, t.died_at or 0),
        )
        free = n - len(self.tracked)
        for t in dead:
            expired = now - (t.died_at or now) > self.settings.keep_dead
            if not expired and free >= reserve:
                continue
            self.kernel.release(t.cgroup_id, t.slab)
            self.watch.forget(t.cgroup_id)
            del self.tracked[t.cgroup_id]
            self.incidents.forget(t.cgroup_id)
            free += 1
        metrics.SLABS_FREE.set(free)
        self._count()

    def refresh_metrics(self) -> None:
        meta = self.kernel.meta
        total = over = 0
        size = self.kernel.settings.slots
        for t in self.tracked.values():
            seen = int(meta[t.slab]["head"]) - int(meta[t.slab]["base"])
            total += seen
            over += max(seen - size, 0)
        metrics.SYSCALLS.set(total)
        metrics.OVERWRITTEN.set(over)
        self._count()
        metrics.set_kernel_stats(self.kernel.stats())

    # -- manual ---------------------------------------------------------------
    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        """Handle a control-socket request (called from the control thread)."""
        if req.get("cmd") != "dump":
            raise UsageError(f"unknown command {req.get('cmd')!r}")
        everything = bool(req.get("all"))
        want = "" if everything else check_request(str(req.get("container") or ""))

        def match(t: Tracked) -> bool:
            if everything:
                return t.alive
            return named(want, t.ref, t.cgroup_id, (t.pod or {}).get("container"))

        incs = self.call(lambda: self._dump_now(match, want))
        if not incs:
            raise TraceloopError(
                f"no recorded container matches {want!r}" if want else "no containers"
            )
        deadline = time.monotonic() + 25
        for inc in incs:
            inc.finished.wait(max(deadline - time.monotonic(), 0))
        return {"ok": True, "dumps": [i.location for i in incs if i.location]}

    def _dump_now(self, match: Callable[[Tracked], bool], want: str) -> list[Incident]:
        """A manual trigger on the containers `match` accepts (main loop). A name
        or ID prefix that fits several containers is refused, not guessed."""
        chosen = {t.cgroup_id: t.ref.id for t in self.tracked.values() if match(t)}
        ids = set(chosen.values())
        if want and len(ids) > 1:
            shown = ", ".join(sorted(i[:12] for i in ids))
            raise UsageError(f"{want!r} names several containers ({shown}): give more of the ID")
        return self.trigger(lambda t: t.cgroup_id in chosen, self.manual_trigger(), force=True)

    def manual_trigger(self) -> Trigger:
        return manual_trigger(time_boot_ns(), self.offset)

    def dump_all(self) -> None:
        self.trigger(lambda t: t.alive, self.manual_trigger(), force=True)

    def shutdown(self) -> None:
        """Finish the dumps in flight, then stop."""
        for inc in list(self.incidents.pending.values()):
            inc.due = 0
        for inc in self.incidents.due(float("inf")):
            self._start_dump(inc)
        self.dumper.shutdown()
        self._drain_calls()
