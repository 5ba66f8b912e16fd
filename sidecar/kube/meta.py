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
from datetime import datetime
from typing import Any

from sidecar.kube.selector import LabelSelector
from sidecar.model.clock import utc_text
from sidecar.model.containers import split_container_id

RECORD_ANNOTATION = "traceloop.io/record"  # "false": do not record this pod
BUFFERS_ANNOTATION = "traceloop.io/buffers"  # "false": record, but leave buffers out of dumps

# Kept from lastState.terminated. `message` is left out (see above).
_TERMINATED_KEYS = ("reason", "exitCode", "signal", "startedAt", "finishedAt", "containerID")


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
    return utc_text(dt)


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
