"""A recorded cgroup as the daemon keeps it: one container incarnation and its slab."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sidecar.host import cgroups
from sidecar.model.containers import ContainerRef
from sidecar.model.kernel_events import Event
from sidecar.model.trigger import Trigger
from triggers.kernel import Exit


@dataclass
class Tracked:
    """A recorded cgroup: one container incarnation and its slab."""

    cgroup_id: int
    slab: int
    gen: int
    ref: ContainerRef
    cgroup: cgroups.Cgroup
    epoch: int = 0  # bumped when the window resumes after a dump of a live container
    alive: bool = True
    died_at: float | None = None
    exit_code: int | None = None
    pod: dict[str, Any] | None = None
    # Triggers limited to the main process, waiting for the container to end.
    candidates: list[Trigger] = field(default_factory=list)
    last_exit: Event | None = None
    ends: list[Exit] = field(default_factory=list)  # recent process ends
    # How much of the container's life its recording covers (the dump header's
    # `container.recording`): from its first call, unless it ran before we did.
    partial: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.cgroup_id, self.gen, self.epoch)

    def container_header(self) -> dict[str, Any]:
        return {
            **self.ref.to_wire(),
            "cgroup_id": self.cgroup_id,
            "exit_code": self.exit_code,
            "recording": self.partial or {"complete": True},
        }
