"""The daemon's Kubernetes part: the pod cache, enrichment and Events.

`Kube` is the engine's `Enrichment` (sidecar/daemon/enrichment.py), given to
its constructor, and `start(daemon)` connects it to a running engine, whose
state it touches only on the engine's main loop (through `Daemon.calls`):

- `pod_of`: a new container is named after its pod (if the watch knows it);
  a container ID the watch learns later names an already-recorded container;
- a pod's sandbox (pause) container is not recorded (`_sandboxes`);
- a pod restart becomes a `pod-restart` trigger on the container incarnation
  that ended (found by the ID in lastState.terminated). If the kernel already
  dumped that crash, the engine calls it late and no second dump is written:
  an Event gives the Kubernetes view and the existing dump's location;
- every dump of a pod's container posts an Event on the pod.

The command line imports this module only when Kubernetes is on: it imports
the kubernetes client, which takes most of a second.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sidecar.daemon import metrics
from sidecar.kube.client import api_client, core_v1
from sidecar.kube.events import EventPoster, EventStats, describe_trigger, dump_message
from sidecar.kube.informer import PodWatcher
from sidecar.kube.meta import PodMeta, PodState, Selection
from sidecar.model.errors import UsageError
from sidecar.model.trigger import Trigger
from triggers.kube import PodRestart, RestartDetector, restart_trigger

if TYPE_CHECKING:
    from sidecar.daemon.tracked import Tracked
    from sidecar.model.containers import ContainerRef
    from sidecar.model.incidents import Incident

log = logging.getLogger("traceloop.kube")


class Engine(Protocol):
    """What this part uses of the engine (sidecar/daemon/engine.py's Daemon), all of
    it on the engine's main loop except `calls`, the way there."""

    tracked: dict[int, Tracked]
    calls: queue.Queue[Callable[[], None]]

    def trigger(
        self, match: Callable[[Tracked], bool], trig: Trigger, force: bool = False
    ) -> list[Incident]: ...

    def untrack(self, t: Tracked, why: str) -> bool: ...


@dataclass(frozen=True)
class KubeSettings:
    node_name: str
    own_pod: tuple[str, str] | None = None  # sidecar mode: (namespace, name)
    kubeconfig: str | None = None
    context: str | None = None
    selection: Selection = field(default_factory=Selection)
    events: bool = True  # post an Event on the pod for each dump
    watch_timeout: int = 120


def _same_pod(ref: ContainerRef, uid: str) -> bool:
    """A cgroup path that names a pod must name this one (a cgroup named like
    another pod's container is not that container)."""
    return not ref.pod_uid or ref.pod_uid == uid


def pod_meta_of(pod: dict[str, Any]) -> PodMeta:
    return PodMeta(
        **{
            k: str(pod.get(k, ""))
            for k in ("node", "namespace", "name", "uid", "container", "container_id", "image")
        }
    )


class Kube:
    """The running Kubernetes part of a daemon."""

    def __init__(
        self,
        core: Any,  # kubernetes.client.CoreV1Api
        *,
        node: str,
        own_pod: tuple[str, str] | None,
        selection: Selection,
        events: bool,
        watch_timeout: int = 120,
        metadata_wait: float = 10.0,
    ) -> None:
        self.daemon: Engine | None = None
        self.selection = selection
        self.metadata_wait = metadata_wait
        self.scope = f"pod {own_pod[0]}/{own_pod[1]}" if own_pod else f"node {node}"
        self.events = EventPoster(core, host=node) if events else None
        self.restarts = RestartDetector(self.on_restart, wants=selection.wants)
        self.watcher = PodWatcher(
            core,
            self.restarts,
            on_container=self.on_container,
            node=None if own_pod else node,
            namespace=own_pod[0] if own_pod else None,
            pod_name=own_pod[1] if own_pod else None,
            watch_timeout=watch_timeout,
        )

    def start(self, daemon: Engine) -> None:
        """Start watching, handing work to `daemon`'s main loop."""
        self.daemon = daemon
        metrics.watch_kube(self.counts)
        if self.events is not None:
            self.events.start()
        self.watcher.start()
        log.info("watching pods", extra={"fields": {"scope": self.scope}})

    def counts(self) -> dict[str, int]:
        """The pod watch's and the Event poster's counters, for metrics (any thread)."""
        w = self.watcher.stats
        e = self.events.stats if self.events is not None else EventStats()
        return {
            "watch_restarts": max(w.watches - 1, 0),
            "relists": max(w.lists - 1, 0),
            "watch_errors": w.errors,
            "events_posted": e.posted,
            "events_failed": e.failed,
            "events_dropped": e.dropped,
        }

    # -- Enrichment: the engine's questions (any thread) --------------------------

    def pod_of(self, ref: ContainerRef) -> dict[str, Any] | None:
        meta = self.watcher.pod_for(ref.id, ref.pod_uid)
        return meta.to_header() if meta is not None else None

    def recorded(self, ref: ContainerRef) -> None:
        """A new container of a pod: maybe what tells its sandbox apart (main loop).
        Before the watch starts (the daemon takes in running containers first)
        nothing is known of pods: the watch's first list judges them instead."""
        if ref.pod_uid and self.daemon is not None:
            self._sandboxes(ref.pod_uid)

    def _pod(self, ref: ContainerRef) -> PodState | None:
        """The container's pod; when its cgroup path names a pod the watch does not
        know yet, wait a little for it (a dump worker's thread, never the main loop):
        the pod's opt-outs decide what is written."""
        deadline = time.monotonic() + self.metadata_wait
        while True:
            pod = self.watcher.pod_state(ref.id, ref.pod_uid)
            if pod is not None or not ref.pod_uid or time.monotonic() >= deadline:
                return pod
            time.sleep(0.1)

    def wants(self, ref: ContainerRef) -> bool:
        """A container of no known pod is dumped: it may not be a pod's at all."""
        pod = self._pod(ref)
        return True if pod is None else self.selection.wants(pod)

    def buffers_allowed(self, ref: ContainerRef) -> bool:
        """A container of no known pod gets its buffers only if no namespace is
        buffer-restricted: when in doubt, secrets stay out."""
        pod = self._pod(ref)
        if pod is None:
            return not self.selection.no_buffer_namespaces
        return self.selection.buffers_allowed(pod)

    def dumped(self, inc: Incident, pod: dict[str, Any] | None) -> None:
        """Every dump of a pod's container: an Event on the pod (dump worker thread)."""
        if self.events is None or not inc.location or not pod:
            return
        meta = pod_meta_of(pod)
        self.events.post(meta, dump_message(inc.triggers, meta.container, inc.location))

    def late(self, inc: Incident, trig: Trigger, pod: dict[str, Any] | None) -> None:
        """Kubernetes saw a crash the kernel had already dumped: say so on the pod
        instead of writing a second dump (main loop)."""
        if self.events is None or trig.source != "kubernetes" or not inc.location or not pod:
            return
        meta = pod_meta_of(pod)
        self.events.post(
            meta,
            f"traceloop: Kubernetes reports {describe_trigger(trig)} of "
            f"container {meta.container}; its dump: {inc.location}",
        )

    # -- from the watcher's thread ---------------------------------------------------

    def on_container(self, meta: PodMeta) -> None:
        if self.daemon is not None:
            self.daemon.calls.put(lambda: self._name(meta))

    def on_restart(self, r: PodRestart) -> None:
        if self.daemon is not None:
            self.daemon.calls.put(lambda: self._restarted(r))

    # -- on the daemon's main loop ----------------------------------------------------

    def _name(self, meta: PodMeta) -> None:
        """A container recorded before the watch knew its pod gets its pod's name."""
        assert self.daemon is not None
        for t in self.daemon.tracked.values():
            if t.pod is None and t.ref.id == meta.container_id and _same_pod(t.ref, meta.uid):
                t.pod = meta.to_header()
        self._sandboxes(meta.uid)

    def _sandboxes(self, pod_uid: str) -> None:
        """Stop recording the pod's sandbox (the pause container), which CRI
        runtimes put in a container cgroup of its own in the pod's cgroup.

        The pod's status lists the IDs of all its containers (init and
        ephemeral ones too, and previous incarnations) but never the sandbox's.
        A container ID that is not among them may also be an incarnation the
        kubelet has not reported yet, though; what tells the sandbox apart is
        that it was created before the pod's containers, so a reported
        container whose cgroup is younger (cgroup ids grow with creation)
        settles it. A container that ended is never judged: its dump matters
        more than its slab."""
        assert self.daemon is not None
        known = self.watcher.container_ids(pod_uid)
        if not known:
            return
        mine = [t for t in self.daemon.tracked.values() if t.ref.pod_uid == pod_uid]
        reported = [t.cgroup_id for t in mine if t.ref.id in known]
        if not reported:
            return
        newest = max(reported)
        for t in mine:
            if t.alive and t.ref.id not in known and t.cgroup_id < newest:
                self.daemon.untrack(t, "pod sandbox")

    def _restarted(self, r: PodRestart) -> None:
        assert self.daemon is not None
        ended = r.previous_container_id
        if not ended:
            log.info(
                "pod restart without the ended container's ID: nothing to dump",
                extra={"fields": {"pod": f"{r.namespace}/{r.pod}", "container": r.container}},
            )
            return
        trig = restart_trigger(r)
        matched = [
            t for t in self.daemon.tracked.values() if t.ref.id == ended and _same_pod(t.ref, r.uid)
        ]
        if not matched:
            log.info(
                "pod restart of a container that was not recorded",
                extra={
                    "fields": {
                        "pod": f"{r.namespace}/{r.pod}",
                        "container": r.container,
                        "container_id": ended,
                    }
                },
            )
            return
        for t in matched:
            if t.pod is None:
                t.pod = r.meta().to_header()
        metrics.TRIGGERS.labels(trig.reason).inc()
        self.daemon.trigger(lambda t: t.ref.id == ended and _same_pod(t.ref, r.uid), trig)

    def stop(self) -> None:
        self.watcher.stop()
        if self.events is not None:
            self.events.stop()


def connect(settings: KubeSettings) -> Kube:
    """The Kubernetes part of a daemon, connected to the API server (not started)."""
    # Our own log says when the API is unreachable and when we try again;
    # urllib3 would add three lines for every failed request.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    own = settings.own_pod
    if own is None and not settings.node_name:
        raise UsageError("--node-name (or NODE_NAME) is needed to watch this node's pods")
    core = core_v1(api_client(settings.kubeconfig, settings.context))
    return Kube(
        core,
        node=settings.node_name,
        own_pod=own,
        selection=settings.selection,
        events=settings.events,
        watch_timeout=settings.watch_timeout,
    )
