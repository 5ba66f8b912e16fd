"""What traceloop keeps of a Kubernetes pod, and the pure decisions made on it.

Pure: works on pods as the API serves them (JSON dicts, camelCase keys).
`parse_pod` keeps only what a dump or a decision needs; annotations other
than traceloop's own are dropped on purpose (`last-applied-configuration`
can hold environment values), and so is `lastState.terminated.message`
(the container's termination log can hold anything it printed).

- `restarts(old, new)`: which containers restarted between two views of a pod
- `Selection`: which pods are recorded, and whose buffers may be dumped
- `PodMeta`: the dump header's `pod` map (docs/dump-format.md)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .labelselector import LabelSelector

RECORD_ANNOTATION = "traceloop.io/record"  # "false": do not record this pod
BUFFERS_ANNOTATION = "traceloop.io/buffers"  # "false": record, but leave buffers out of dumps

# Kept from lastState.terminated. `message` is left out (see above).
_TERMINATED_KEYS = ("reason", "exitCode", "signal", "startedAt", "finishedAt", "containerID")


def split_container_id(container_id: str) -> tuple[str, str]:
    """`containerd://abc…` (as Kubernetes reports it) -> ("containerd", "abc…")."""
    runtime, sep, cid = container_id.partition("://")
    return (runtime, cid) if sep else ("", container_id)


def _rfc3339(value: Any) -> Any:
    """One spelling for times, whether the API's JSON or the client's models gave them."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        return value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _terminated(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    term = (state or {}).get("terminated")
    if not isinstance(term, Mapping):
        return None
    out = {k: _rfc3339(term[k]) for k in _TERMINATED_KEYS if term.get(k) is not None}
    if "containerID" in out:
        out["containerID"] = split_container_id(out["containerID"])[1]
    return out


@dataclass(frozen=True)
class ContainerState:
    """One entry of a pod's containerStatuses (or initContainerStatuses)."""

    name: str
    container_id: str  # without the runtime prefix; "" before the container started
    runtime: str  # containerd, cri-o, docker, or ""
    image: str
    restart_count: int
    last_terminated: dict[str, Any] | None  # lastState.terminated (keys as the API spells them)
    init: bool = False

    @property
    def previous_id(self) -> str:
        return str((self.last_terminated or {}).get("containerID", ""))


@dataclass(frozen=True)
class PodState:
    uid: str
    namespace: str
    name: str
    node: str
    resource_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    record: bool = True  # False: opted out with the traceloop.io/record annotation
    buffers: bool = True  # False: opted out with the traceloop.io/buffers annotation
    containers: tuple[ContainerState, ...] = ()

    def container(self, name: str) -> ContainerState | None:
        return next((c for c in self.containers if c.name == name), None)


def _false(annotations: Mapping[str, Any], key: str) -> bool:
    return str(annotations.get(key, "")).strip().lower() == "false"


def _statuses(raw: Any, init: bool) -> list[ContainerState]:
    out = []
    for cs in raw or []:
        runtime, cid = split_container_id(str(cs.get("containerID") or ""))
        out.append(
            ContainerState(
                name=str(cs["name"]),
                container_id=cid,
                runtime=runtime,
                image=str(cs.get("image", "")),
                restart_count=int(cs.get("restartCount", 0)),
                last_terminated=_terminated(cs.get("lastState")),
                init=init,
            )
        )
    return out


def parse_pod(raw: Mapping[str, Any]) -> PodState:
    meta = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    status = raw.get("status") or {}
    annotations = meta.get("annotations") or {}
    containers = (
        _statuses(status.get("initContainerStatuses"), init=True)
        + _statuses(status.get("containerStatuses"), init=False)
        # Ephemeral (debug) containers never restart, but crash dumps can name them.
        + _statuses(status.get("ephemeralContainerStatuses"), init=False)
    )
    return PodState(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        node=str(spec.get("nodeName") or ""),
        resource_version=str(meta.get("resourceVersion", "")),
        labels=dict(meta.get("labels") or {}),
        record=not _false(annotations, RECORD_ANNOTATION),
        buffers=not _false(annotations, BUFFERS_ANNOTATION),
        containers=tuple(containers),
    )


@dataclass(frozen=True)
class PodMeta:
    """A container's Kubernetes identity, as a dump's header names it."""

    node: str
    namespace: str
    name: str
    uid: str
    container: str
    container_id: str
    image: str

    def to_header(self) -> dict[str, str]:
        return {
            "node": self.node,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "container": self.container,
            "container_id": self.container_id,
            "image": self.image,
        }


def pod_meta(pod: PodState, c: ContainerState, container_id: str | None = None) -> PodMeta:
    return PodMeta(
        node=pod.node,
        namespace=pod.namespace,
        name=pod.name,
        uid=pod.uid,
        container=c.name,
        container_id=c.container_id if container_id is None else container_id,
        image=c.image,
    )


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


@dataclass(frozen=True)
class Selection:
    """Which pods are recorded. Empty `namespaces` means all of them."""

    namespaces: frozenset[str] = frozenset()
    exclude_namespaces: frozenset[str] = frozenset()
    selector: LabelSelector | None = None
    no_buffer_namespaces: frozenset[str] = frozenset()

    def wants(self, pod: PodState) -> bool:
        if not pod.record:
            return False
        if self.namespaces and pod.namespace not in self.namespaces:
            return False
        if pod.namespace in self.exclude_namespaces:
            return False
        return self.selector is None or self.selector.matches(pod.labels)

    def buffers_allowed(self, pod: PodState) -> bool:
        return pod.buffers and pod.namespace not in self.no_buffer_namespaces
