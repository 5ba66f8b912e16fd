"""Kubernetes trigger: a container restart seen in a pod's status.

`RestartDetector` listens to the pod cache (sidecar.kube.informer): each pod
change becomes the restarts it shows (`restarts`, a pure decision over two
pod states), each reported once, whether it is seen in the watch, in a
re-list or in both: it is keyed by pod UID, container, restartCount and the ID
of the incarnation that ended."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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


log = logging.getLogger("traceloop.kube")


class RestartDetector:
    """The pod cache's listener: reports each restart of a wanted pod once."""

    def __init__(
        self,
        on_restart: Callable[[PodRestart], None],
        wants: Callable[[PodState], bool] = lambda pod: True,
    ) -> None:
        self._on_restart = on_restart
        self._wants = wants
        self._reported: set[tuple[str, str, int, str]] = set()
        self.reported = 0  # restarts handed to on_restart

    def pod_changed(self, old: PodState | None, new: PodState, *, listed_once: bool) -> None:
        found = [
            r for r in restarts(old, new, new_pod_counts=listed_once) if r.key not in self._reported
        ]
        self._reported.update(r.key for r in found)
        if not self._wants(new):
            return
        for r in found:
            self.reported += 1
            log.info(
                "pod-restart: %s/%s container %s (restart %d, %s)",
                r.namespace,
                r.pod,
                r.container,
                r.restart_count,
                r.terminated.get("reason", "no lastState"),
            )
            try:
                self._on_restart(r)
            except Exception:
                log.exception("pod watch: on_restart failed for %s/%s", r.namespace, r.pod)

    def pod_forgotten(self, uid: str) -> None:
        self._reported = {k for k in self._reported if k[0] != uid}
