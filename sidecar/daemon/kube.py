"""The daemon's Kubernetes part: options, the pod watch, enrichment and Events.

Plugs into `sidecar.daemon` through its hooks, and touches the daemon's
state only on its main loop (through `Daemon.calls`):

- `pod_lookup`: a new container is named after its pod (if the watch knows it);
  a container ID the watch learns later names an already-recorded container;
- a pod restart becomes a `pod-restart` trigger on the container incarnation
  that ended (found by the ID in lastState.terminated). If the kernel already
  dumped that crash, the daemon calls it late and no second dump is written:
  an Event gives the Kubernetes view and the existing dump's location;
- every dump of a pod's container posts an Event on the pod.

Options and the decision to start are in sidecar/kubeoptions.py, which the
daemon's command line imports: this module imports the kubernetes client,
which takes most of a second, and only a daemon that uses it pays for that.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sidecar.cli.kube_options import selection_from
from sidecar.daemon import metrics
from sidecar.kube.client import api_client, core_v1
from sidecar.kube.events import EventPoster, describe_trigger, dump_message
from sidecar.kube.informer import PodWatcher
from sidecar.kube.meta import PodMeta, Selection
from sidecar.model.errors import UsageError
from sidecar.model.trigger import Trigger
from triggers.kube import PodRestart, restart_trigger

if TYPE_CHECKING:
    from sidecar.daemon.engine import Daemon, Tracked
    from sidecar.model.containers import ContainerRef
    from sidecar.model.incidents import Incident

log = logging.getLogger("traceloop.kube")


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
        daemon: Daemon,
        core: Any,  # kubernetes.client.CoreV1Api
        *,
        node: str,
        own_pod: tuple[str, str] | None,
        selection: Selection,
        events: bool,
        watch_timeout: int = 120,
    ) -> None:
        self.daemon = daemon
        self.events = EventPoster(core, host=node) if events else None
        self.watcher = PodWatcher(
            core,
            self.on_restart,
            on_container=self.on_container,
            node=None if own_pod else node,
            namespace=own_pod[0] if own_pod else None,
            pod_name=own_pod[1] if own_pod else None,
            selection=selection,
            watch_timeout=watch_timeout,
        )

    def start(self) -> None:
        if self.events is not None:
            self.events.start()
        self.watcher.start()

    # -- queries for the daemon (any thread) -------------------------------------

    def pod_lookup(self, ref: ContainerRef) -> dict[str, Any] | None:
        meta = self.watcher.pod_for(ref.id)
        return meta.to_header() if meta is not None else None

    def wants(self, container_id: str) -> bool:
        return self.watcher.wants(container_id)

    def buffers_allowed(self, container_id: str) -> bool:
        return self.watcher.buffers_allowed(container_id)

    # -- from the watcher's thread --------------------------------------------------

    def on_container(self, meta: PodMeta) -> None:
        self.daemon.calls.put(lambda: self._name(meta))

    def on_restart(self, r: PodRestart) -> None:
        self.daemon.calls.put(lambda: self._restarted(r))

    # -- on the daemon's main loop ----------------------------------------------------

    def _name(self, meta: PodMeta) -> None:
        """A container recorded before the watch knew its pod gets its pod's name."""
        for t in self.daemon.tracked.values():
            if t.pod is None and t.ref.id == meta.container_id:
                t.pod = meta.to_header()

    def _restarted(self, r: PodRestart) -> None:
        ended = r.previous_container_id
        if not ended:
            log.info(
                "pod restart without the ended container's ID: nothing to dump",
                extra={"fields": {"pod": f"{r.namespace}/{r.pod}", "container": r.container}},
            )
            return
        trig = restart_trigger(r)
        matched = [t for t in self.daemon.tracked.values() if t.ref.id == ended]
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
        self.daemon.trigger(lambda t: t.ref.id == ended, trig)

    # -- daemon hooks ----------------------------------------------------------------

    def on_dumped(self, inc: Incident, t: Tracked) -> None:
        """Every dump of a pod's container: an Event on the pod (dump worker thread)."""
        if self.events is None or not inc.location:
            return
        pod = t.pod or self.pod_lookup(t.ref)
        if not pod:
            return
        meta = pod_meta_of(pod)
        self.events.post(meta, dump_message(inc.triggers, meta.container, inc.location))

    def on_late(self, inc: Incident, trig: Trigger) -> None:
        """Kubernetes saw a crash the kernel had already dumped: say so on the pod
        instead of writing a second dump (main loop)."""
        if self.events is None or trig.source != "kubernetes" or not inc.location:
            return
        t = self.daemon.tracked.get(inc.key[0])
        pod = (t.pod or self.pod_lookup(t.ref)) if t is not None else None
        if not pod:
            return
        meta = pod_meta_of(pod)
        self.events.post(
            meta,
            f"traceloop: Kubernetes reports {describe_trigger(trig)} of "
            f"container {meta.container}; its dump: {inc.location}",
        )

    def stop(self) -> None:
        self.watcher.stop()
        if self.events is not None:
            self.events.stop()


def start(args: argparse.Namespace, daemon: Daemon) -> Callable[[], None]:
    """Start the Kubernetes part and plug it into `daemon`; returns its stop."""
    # Our own log says when the API is unreachable and when we try again;
    # urllib3 would add three lines for every failed request.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    own = args.kube_pod
    if own is None and not args.node_name:
        raise UsageError("--node-name (or NODE_NAME) is needed to watch this node's pods")
    core = core_v1(api_client(args.kubeconfig, args.kube_context))
    kube = Kube(
        daemon,
        core,
        node=args.node_name,
        own_pod=own,
        selection=selection_from(args),
        events=args.kube_events,
        watch_timeout=args.kube_watch_timeout,
    )
    daemon.pod_lookup = kube.pod_lookup
    daemon.dump_wanted = lambda ref: kube.wants(ref.id)
    daemon.buffers_allowed = lambda ref: kube.buffers_allowed(ref.id)
    daemon.on_dumped.append(kube.on_dumped)
    daemon.on_late.append(kube.on_late)
    kube.start()
    log.info(
        "watching pods",
        extra={"fields": {"scope": f"pod {own[0]}/{own[1]}" if own else f"node {args.node_name}"}},
    )
    return kube.stop
