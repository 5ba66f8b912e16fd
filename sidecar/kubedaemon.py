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

Enabled with `--kubernetes on`, or by default (`auto`) inside a pod or with
`--kubeconfig`.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from triggers.kube import PodWatcher, restart_trigger

from . import labelselector, metrics
from .errors import UsageError
from .header import Trigger
from .kube_events import EventPoster, describe_trigger, dump_message
from .kubeclient import api_client, core_v1
from .kubemeta import PodMeta, PodRestart, Selection

if TYPE_CHECKING:
    from .containers import ContainerRef
    from .daemon import Daemon, Tracked
    from .incidents import Incident

log = logging.getLogger("traceloop.kube")


def _csv(value: str) -> frozenset[str]:
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def _selector(value: str) -> labelselector.LabelSelector:
    try:
        return labelselector.parse(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _own_pod(value: str) -> tuple[str, str]:
    ns, sep, name = value.partition("/")
    if not sep or not ns or not name:
        raise argparse.ArgumentTypeError(f"{value!r}: expected NAMESPACE/NAME")
    return ns, name


def add_kube_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("kubernetes")
    g.add_argument(
        "--kubernetes",
        choices=["auto", "on", "off"],
        default="auto",
        help="watch this node's pods: restart triggers, pod names in dumps, Events "
        "(auto: on inside a pod or with --kubeconfig)",
    )
    g.add_argument("--kubeconfig", default=None, metavar="PATH",
                   help="kubeconfig file (default: the pod's service account, else "
                   "$KUBECONFIG or ~/.kube/config)")
    g.add_argument("--kube-context", default=None, metavar="NAME")
    g.add_argument(
        "--kube-pod",
        type=_own_pod,
        default=_own_pod_from_env(),
        metavar="NAMESPACE/NAME",
        help="sidecar mode: watch only this pod (default from POD_NAMESPACE and POD_NAME "
        "when TRACELOOP_SIDECAR=1)",
    )
    g.add_argument("--kube-namespaces", type=_csv, default=frozenset(), metavar="NS,...",
                   help="record only pods in these namespaces")
    g.add_argument("--kube-exclude-namespaces", type=_csv, default=frozenset(),
                   metavar="NS,...", help="never record pods in these namespaces")
    g.add_argument("--kube-selector", type=_selector, default=None, metavar="SELECTOR",
                   help="record only pods whose labels match (e.g. 'app=web,tier!=db')")
    g.add_argument(
        "--kube-no-buffers-namespaces",
        type=_csv,
        default=frozenset(),
        metavar="NS,...",
        help="leave read/write buffers out of dumps of these namespaces' pods (the "
        "traceloop.io/buffers: \"false\" annotation does it per pod)",
    )
    g.add_argument("--no-kube-events", dest="kube_events", action="store_false",
                   help="do not post an Event on the pod for each dump")
    g.add_argument("--kube-watch-timeout", type=int, default=120, metavar="SECONDS",
                   help=argparse.SUPPRESS)


def _own_pod_from_env() -> tuple[str, str] | None:
    if os.environ.get("TRACELOOP_SIDECAR") != "1":
        return None
    ns, name = os.environ.get("POD_NAMESPACE", ""), os.environ.get("POD_NAME", "")
    return (ns, name) if ns and name else None


def kube_enabled(args: argparse.Namespace) -> bool:
    mode = getattr(args, "kubernetes", "off")
    if mode == "auto":
        return bool(os.environ.get("KUBERNETES_SERVICE_HOST") or args.kubeconfig)
    return bool(mode == "on")


def selection_from(args: argparse.Namespace) -> Selection:
    return Selection(
        namespaces=args.kube_namespaces,
        exclude_namespaces=args.kube_exclude_namespaces,
        selector=args.kube_selector,
        no_buffer_namespaces=args.kube_no_buffers_namespaces,
    )


def pod_meta_of(pod: dict[str, Any]) -> PodMeta:
    return PodMeta(**{k: str(pod.get(k, "")) for k in (
        "node", "namespace", "name", "uid", "container", "container_id", "image")})


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
            log.info("pod restart without the ended container's ID: nothing to dump",
                     extra={"fields": {"pod": f"{r.namespace}/{r.pod}", "container": r.container}})
            return
        trig = restart_trigger(r)
        matched = [t for t in self.daemon.tracked.values() if t.ref.id == ended]
        if not matched:
            log.info("pod restart of a container that was not recorded",
                     extra={"fields": {"pod": f"{r.namespace}/{r.pod}", "container": r.container,
                                       "container_id": ended}})
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
        self.events.post(meta, f"traceloop: Kubernetes reports {describe_trigger(trig)} of "
                               f"container {meta.container}; its dump: {inc.location}")

    def stop(self) -> None:
        self.watcher.stop()
        if self.events is not None:
            self.events.stop()


def start_kube(args: argparse.Namespace, daemon: Daemon) -> Callable[[], None] | None:
    """Start the Kubernetes part (if enabled) and plug it into `daemon`; returns its stop."""
    if not kube_enabled(args):
        return None
    own = args.kube_pod
    if own is None and not args.node_name:
        raise UsageError("--node-name (or NODE_NAME) is needed to watch this node's pods")
    core = core_v1(api_client(args.kubeconfig, args.kube_context))
    kube = Kube(daemon, core, node=args.node_name, own_pod=own, selection=selection_from(args),
                events=args.kube_events, watch_timeout=args.kube_watch_timeout)
    daemon.pod_lookup = kube.pod_lookup
    daemon.on_dumped.append(kube.on_dumped)
    daemon.on_late.append(kube.on_late)
    kube.start()
    log.info("watching pods", extra={"fields": {
        "scope": f"pod {own[0]}/{own[1]}" if own else f"node {args.node_name}"}})
    return kube.stop
