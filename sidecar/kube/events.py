"""Kubernetes Events on the pod for every dump, so `kubectl describe pod` says where it is.

A core/v1 Event (what kubelet posts too): reason `TraceloopDump`, type
Warning, the pod as involvedObject (with the container as fieldPath), source
`traceloop` on the node. Posting runs on a thread of its own with a bounded
queue: the API server being slow or away never holds up a dump, and an Event
that cannot be posted is logged and counted, never raised.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import tenacity
from kubernetes.client import CoreV1Event
from kubernetes.client.exceptions import ApiException

from sidecar.kube.meta import PodMeta
from sidecar.model.clock import utc_text
from sidecar.model.text import escape
from sidecar.model.trigger import Trigger

log = logging.getLogger("traceloop.kube")

REASON = "TraceloopDump"
COMPONENT = "traceloop"
MAX_MESSAGE = 1024  # kubectl shows messages whole; keep them readable


def describe_trigger(t: Trigger) -> str:
    """`pod-restart (OOMKilled, exit 137)`, `fatal-signal (SIGSEGV, pid 42)`."""
    bits = []
    reason = t.detail.get("reason") if t.reason == "pod-restart" else None
    if reason:
        bits.append(str(reason))
    if t.exit_code is not None:
        bits.append(f"exit {t.exit_code}")
    if t.signal:
        bits.append(t.signal)
    if t.pid:
        bits.append(f"pid {t.pid}" + (f" {t.comm}" if t.comm else ""))
    return t.reason + (f" ({', '.join(bits)})" if bits else "")


def dump_message(triggers: Sequence[Trigger], container: str, location: str) -> str:
    what = ", ".join(describe_trigger(t) for t in triggers) or "dump"
    msg = f"traceloop recorded container {container}: {what}; dump: {location}"
    return msg if len(msg) <= MAX_MESSAGE else msg[: MAX_MESSAGE - 3] + "..."


def event_body(
    pod: PodMeta,
    message: str,
    *,
    host: str,
    reason: str = REASON,
    type_: str = "Warning",
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Event, as the API spells it."""
    now = now or datetime.now(UTC)
    # client-go names Events "<object>.<unix ns in hex>"; names are at most 253 chars.
    name = f"{pod.name[:200]}.{int(now.timestamp() * 1e9):x}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": pod.namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": pod.namespace,
            "name": pod.name,
            "uid": pod.uid,
            "fieldPath": f"spec.containers{{{pod.container}}}",
        },
        "reason": reason,
        # A comm, a path or a reason in it comes from the workload: `kubectl
        # describe` prints the message raw (CVE-2021-25743's class).
        "message": escape(message),
        "type": type_,
        "count": 1,
        "firstTimestamp": utc_text(now),
        "lastTimestamp": utc_text(now),
        "source": {"component": COMPONENT, "host": pod.node or host},
        "reportingComponent": COMPONENT,
        "reportingInstance": pod.node or host,
        "action": "Dumped",
    }


def _retryable(e: BaseException) -> bool:
    if isinstance(e, ApiException):
        # 403 (RBAC) or 422 (invalid) will not get better by asking again.
        return e.status is None or e.status == 429 or e.status >= 500
    return True  # connection refused, reset, timeout


@dataclass
class EventStats:
    posted: int = 0
    failed: int = 0
    dropped: int = 0  # queue full


class EventPoster:
    """Posts Events from a queue on its own thread. `post()` never blocks or raises."""

    def __init__(
        self,
        core: Any,  # kubernetes.client.CoreV1Api
        *,
        host: str,
        attempts: int = 5,
        backoff_max: float = 10.0,
        queue_size: int = 256,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._core = core
        self._host = host
        self._queue: queue.Queue[tuple[PodMeta, str, str, str] | None] = queue.Queue(queue_size)
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retryable),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=backoff_max, jitter=0.5),
            stop=tenacity.stop_after_attempt(attempts),
            sleep=sleep,
            reraise=True,
        )
        self._thread: threading.Thread | None = None
        self.stats = EventStats()

    def post_now(
        self, pod: PodMeta, message: str, *, reason: str = REASON, type_: str = "Warning"
    ) -> Any:
        """Post one Event, retrying; raises what the last attempt raised."""
        body = CoreV1Event.from_dict(
            event_body(pod, message, host=self._host, reason=reason, type_=type_)
        )
        return self._retrying(self._core.create_namespaced_event, pod.namespace, body)

    def post(
        self, pod: PodMeta, message: str, *, reason: str = REASON, type_: str = "Warning"
    ) -> None:
        try:
            self._queue.put_nowait((pod, message, reason, type_))
        except queue.Full:
            self.stats.dropped += 1
            log.warning("kube event queue full; event for %s/%s dropped", pod.namespace, pod.name)

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self._run, name="kube-events", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 5.0) -> None:
        """Post what is queued (within `timeout`), then end the thread."""
        if self._thread is None:
            return
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            pod, message, reason, type_ = item
            try:
                self.post_now(pod, message, reason=reason, type_=type_)
                self.stats.posted += 1
            except Exception as e:
                self.stats.failed += 1
                status = f"HTTP {e.status} {e.reason}" if isinstance(e, ApiException) else repr(e)
                log.warning(
                    "kube event for %s/%s not posted: %s", pod.namespace, pod.name, status[:200]
                )
