"""What the daemon asks of an outside source of container metadata (Kubernetes).

The engine calls these at fixed points; an implementation is handed to the
engine's constructor (sidecar/daemon/kube.py's `Kube`), `Nothing` otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sidecar.model.containers import ContainerRef
    from sidecar.model.incidents import Incident
    from sidecar.model.trigger import Trigger


class Enrichment(Protocol):
    def pod_of(self, ref: ContainerRef) -> dict[str, Any] | None:
        """The pod fields of a dump header (docs/dump-format.md), if known."""
        ...

    def recorded(self, ref: ContainerRef) -> None:
        """A new container got a slab and is tracked (main loop)."""
        ...

    def wants(self, ref: ContainerRef) -> bool:
        """Dump this container at all (opt-out annotation, namespaces, labels)?"""
        ...

    def buffers_allowed(self, ref: ContainerRef) -> bool:
        """May its read/write buffers and argv go into its dump?"""
        ...

    def dumped(self, inc: Incident, pod: dict[str, Any] | None) -> None:
        """A dump was written (dump worker thread)."""
        ...

    def late(self, inc: Incident, trig: Trigger, pod: dict[str, Any] | None) -> None:
        """A trigger arrived for an incident already dumped (main loop)."""
        ...


class Nothing:
    """No metadata: every container is dumped, with its buffers."""

    def pod_of(self, ref: ContainerRef) -> dict[str, Any] | None:
        return None

    def recorded(self, ref: ContainerRef) -> None:
        pass

    def wants(self, ref: ContainerRef) -> bool:
        return True

    def buffers_allowed(self, ref: ContainerRef) -> bool:
        return True

    def dumped(self, inc: Incident, pod: dict[str, Any] | None) -> None:
        pass

    def late(self, inc: Incident, trig: Trigger, pod: dict[str, Any] | None) -> None:
        pass
