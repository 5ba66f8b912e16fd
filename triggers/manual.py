"""Manual trigger: a person asked for a dump (`traceloop dump`, SIGUSR1).

Which containers a request names is decided here too, so the control socket
and the daemon agree on one rule.
"""

from __future__ import annotations

from sidecar.model.clock import iso
from sidecar.model.containers import ContainerRef, normalize_id
from sidecar.model.errors import UsageError
from sidecar.model.trigger import Trigger

# Shorter ID prefixes would name several containers too often.
MIN_ID_PREFIX = 6


def manual_trigger(ts_ns: int, boot_offset_ns: int) -> Trigger:
    """`ts_ns` on CLOCK_BOOTTIME; the offset turns it into wall-clock time."""
    return Trigger(reason="manual", source="manual", ts_ns=ts_ns, time=iso(ts_ns + boot_offset_ns))


def check_request(want: str) -> str:
    """The container a request names, checked: an empty name, or one that is
    empty once its runtime prefix is stripped (`containerd://`), would match
    every container."""
    if not want.strip() or not normalize_id(want).strip():
        raise UsageError(f"no container named in {want!r}")
    return want


def named(want: str, ref: ContainerRef, cgroup_id: int, pod_container: str | None = None) -> bool:
    """Does `want` name this container? Its name, its cgroup id, a prefix of
    its container ID (at least MIN_ID_PREFIX characters, runtime prefix
    allowed), or its container name in the pod."""
    if want in (ref.name, str(cgroup_id)) or (pod_container is not None and want == pod_container):
        return True
    prefix = normalize_id(want)
    return len(prefix) >= MIN_ID_PREFIX and ref.id.startswith(prefix)
