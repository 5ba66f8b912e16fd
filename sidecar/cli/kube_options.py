"""The daemon's Kubernetes options, and its Kubernetes settings from them.

Light on purpose (every `traceloop` command builds the daemon's parser): the
kubernetes client is imported only by sidecar/daemon/kube.py, when the daemon
starts with Kubernetes on (`--kubernetes on`, or by default inside a pod, with
`--kubeconfig` or with $KUBECONFIG set).

    add_kube_options(parser)
    settings = kube_settings_from(args)  # None when Kubernetes is off
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from sidecar.kube import selector as labelselector
from sidecar.kube.meta import Selection

if TYPE_CHECKING:
    from sidecar.daemon.kube import KubeSettings


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
        "(auto: on inside a pod, with --kubeconfig or with $KUBECONFIG set)",
    )
    g.add_argument(
        "--kubeconfig",
        default=None,
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, else the pod's service account, "
        "else ~/.kube/config)",
    )
    g.add_argument("--kube-context", default=None, metavar="NAME")
    g.add_argument(
        "--kube-pod",
        type=_own_pod,
        default=_own_pod_from_env(),
        metavar="NAMESPACE/NAME",
        help="sidecar mode: watch only this pod (default from POD_NAMESPACE and POD_NAME "
        "when TRACELOOP_SIDECAR=1)",
    )
    g.add_argument(
        "--kube-namespaces",
        type=_csv,
        default=frozenset(),
        metavar="NS,...",
        help="record only pods in these namespaces",
    )
    g.add_argument(
        "--kube-exclude-namespaces",
        type=_csv,
        default=frozenset(),
        metavar="NS,...",
        help="never record pods in these namespaces",
    )
    g.add_argument(
        "--kube-selector",
        type=_selector,
        default=None,
        metavar="SELECTOR",
        help="record only pods whose labels match (e.g. 'app=web,tier!=db')",
    )
    g.add_argument(
        "--kube-no-buffers-namespaces",
        type=_csv,
        default=frozenset(),
        metavar="NS,...",
        help="leave read/write buffers and execve's arguments out of dumps of these "
        'namespaces\' pods (the traceloop.io/buffers: "false" annotation does it per pod)',
    )
    g.add_argument(
        "--no-kube-events",
        dest="kube_events",
        action="store_false",
        help="do not post an Event on the pod for each dump",
    )
    g.add_argument(
        "--kube-watch-timeout", type=int, default=120, metavar="SECONDS", help=argparse.SUPPRESS
    )


def _own_pod_from_env() -> tuple[str, str] | None:
    if os.environ.get("TRACELOOP_SIDECAR") != "1":
        return None
    ns, name = os.environ.get("POD_NAMESPACE", ""), os.environ.get("POD_NAME", "")
    return (ns, name) if ns and name else None


def kube_enabled(args: argparse.Namespace) -> bool:
    mode = getattr(args, "kubernetes", "off")
    if mode == "auto":
        # As kubectl finds a cluster: --kubeconfig, $KUBECONFIG, the pod's service account.
        return bool(
            args.kubeconfig
            or os.environ.get("KUBECONFIG")
            or os.environ.get("KUBERNETES_SERVICE_HOST")
        )
    return bool(mode == "on")


def selection_from(args: argparse.Namespace) -> Selection:
    return Selection(
        namespaces=args.kube_namespaces,
        exclude_namespaces=args.kube_exclude_namespaces,
        selector=args.kube_selector,
        no_buffer_namespaces=args.kube_no_buffers_namespaces,
    )


def kube_settings_from(args: argparse.Namespace) -> KubeSettings | None:
    """The daemon's Kubernetes settings, or None when Kubernetes is off."""
    if not kube_enabled(args):
        return None
    from sidecar.daemon.kube import KubeSettings

    return KubeSettings(
        node_name=args.node_name,
        own_pod=args.kube_pod,
        kubeconfig=args.kubeconfig,
        context=args.kube_context,
        selection=selection_from(args),
        events=args.kube_events,
        watch_timeout=args.kube_watch_timeout,
    )
