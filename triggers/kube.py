"""Kubernetes trigger: a container restart seen in a pod's status.

Pure decisions over pod states (sidecar.kube.meta) that the pod cache
(sidecar.kube.informer) hands to its subscribers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sidecar.kube.meta import PodMeta, PodState
from sidecar.model.clock import iso
from sidecar.model.trigger import Trigger, signal_name


@dataclass(frozen=True)
class PodRestart:
    """A container's restartCount rose: the incarnation `previous_container_id` ended."""

    namespace: str
    pod: str
    uid: str
    node: str
    container: str
    container_id: str  # the new incarnation ("" if not started yet)
    previous_container_id: str  # the one that ended (from lastState.terminated), or ""
    image: str
    restart_count: int
    missed: int  # further restarts between the two views, whose details are gone
    terminated: dict[str, Any]  # lastState.terminated: reason, exitCode, signal, times

    @property
    def key(self) -> tuple[str, str, int, str]:
        """Names one restart, however many times (re-lists, reconnects) it is seen."""
        return (self.uid, self.container, self.restart_count, self.previous_container_id)

    def meta(self) -> PodMeta:
        """The identity of the incarnation that ended (the one a dump is about)."""
        return PodMeta(
            node=self.node,
            namespace=self.namespace,
            name=self.pod,
            uid=self.uid,
            container=self.container,
            container_id=self.previous_container_id or self.container_id,
            image=self.image,
        )


def restarts(old: PodState | None, new: PodState, *, new_pod_counts: bool) -> list[PodRestart]:
    """Containers whose restartCount rose from `old` to `new`.

    `old` None means the pod was never seen. Then only if `new_pod_counts`
    (the pod appeared after the first sync, e.g. during a watch gap) do its
    restarts count, since they happened while we were already recording. A
    container missing from `old` (its status was not filled in yet) counts
    from 0. A count that went down (kubelet lost its state) is no restart.
    """
    if old is None and not new_pod_counts:
        return []
    out = []
    for c in new.containers:
        before = old.container(c.name) if old is not None else None
        base = before.restart_count if before is not None else 0
        if c.restart_count <= base:
            continue
        out.append(
            PodRestart(
                namespace=new.namespace,
                pod=new.name,
                uid=new.uid,
                node=new.node,
                container=c.name,
                container_id=c.container_id,
                previous_container_id=c.previous_id,
                image=c.image,
                restart_count=c.restart_count,
                missed=c.restart_count - base - 1,
                terminated=dict(c.last_terminated or {}),
            )
        )
    return out


def restart_trigger(r: PodRestart) -> Trigger:
    """The `pod-restart` trigger of a dump header (docs/dump-format.md)."""
    term = r.terminated
    sig = term.get("signal")
    return Trigger(
        reason="pod-restart",
        source="kubernetes",
        ts_ns=0,  # the API gives wall-clock times only
        time=str(term.get("finishedAt") or iso(time.time_ns())),
        exit_code=term.get("exitCode"),
        signal=signal_name(sig) if isinstance(sig, int) and sig else None,
        detail={
            **term,
            "restartCount": r.restart_count,
            # Restarts in a gap the server had forgotten show as one jump.
            **({"missedRestarts": r.missed} if r.missed else {}),
        },
    )
