"""Writing incidents' dumps on a small worker pool.

The main loop hands an incident over and goes on polling: a slow sink (a full
disk, S3 far away) never stalls the recording of other containers. The slab
stays frozen, and reserved (`writing`), until its dump is written.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sidecar.daemon import metrics
from sidecar.daemon.enrichment import Enrichment
from sidecar.daemon.settings import DaemonSettings
from sidecar.dump.naming import DumpName
from sidecar.kernel.loader import Kernel
from sidecar.kernel.recorder import Recorder
from sidecar.model.errors import TraceloopError
from sidecar.model.incidents import Incident
from sidecar.sinks.base import Sink

if TYPE_CHECKING:
    from sidecar.daemon.tracked import Tracked

log = logging.getLogger("traceloop.daemon")


class Dumper:
    def __init__(
        self,
        kernel: Kernel,
        recorder: Recorder,
        sinks: Sequence[Sink],
        settings: DaemonSettings,
        enrichment: Enrichment,
        written: Callable[[Tracked], None],
        workers: int = 2,
    ) -> None:
        self.kernel = kernel
        self.recorder = recorder
        self.sinks = list(sinks)
        self.settings = settings
        self.enrichment = enrichment
        self._written = written  # called (from a worker) after each dump of `t`
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="dump")
        self._lock = threading.Lock()
        self._writing: dict[int, int] = {}  # cgroup id -> dumps in flight

    def writing(self) -> set[int]:
        """The cgroups whose dumps are being written: their slabs must not be reused."""
        with self._lock:
            return set(self._writing)

    def start(self, inc: Incident, t: Tracked) -> None:
        with self._lock:
            self._writing[t.cgroup_id] = self._writing.get(t.cgroup_id, 0) + 1
        fut = self._pool.submit(self._dump, inc, t)
        fut.add_done_callback(self._done)

    def shutdown(self) -> None:
        """Finish the dumps in flight."""
        self._pool.shutdown(wait=True)

    def _done(self, fut: concurrent.futures.Future[None]) -> None:
        e = fut.exception()
        if e is not None:  # a bug, not a sink error: say so, never lose it silently
            metrics.DUMPS.labels("failed").inc()
            log.error("dump crashed", exc_info=e)

    def _dump(self, inc: Incident, t: Tracked) -> None:
        try:
            self._write(inc, t)
        finally:
            with self._lock:
                left = self._writing.pop(t.cgroup_id) - 1
                if left:
                    self._writing[t.cgroup_id] = left
            inc.finished.set()
            self._written(t)

    def _write(self, inc: Incident, t: Tracked) -> None:
        started = time.monotonic()
        if not self.kernel.freeze(t.slab, t.gen):
            metrics.DUMPS.labels("failed").inc()
            log.error(
                "dump abandoned: its slab went to another container",
                extra={"fields": {"container": t.ref.name}},
            )
            return
        # Asked here, on a worker: the answer may wait for the pod's metadata.
        if not self.enrichment.wants(t.ref):
            log.info("not dumped: not selected", extra={"fields": {"container": t.ref.name}})
            return
        first = inc.triggers[0]
        pod = t.pod or {}
        name = DumpName(
            time=first.time,
            reason=first.reason,
            id=f"{self.settings.node_name}-{t.cgroup_id}-{t.gen}-{t.epoch}",
            container=pod.get("container") or t.ref.name,
            namespace=pod.get("namespace", ""),
            pod=pod.get("name", ""),
            cluster=self.settings.cluster,
            node=self.settings.node_name,
        )
        window = int(self.settings.window * 1e9) if self.settings.window else None
        try:
            # The slab must still be this incarnation's, before and after the read:
            # a dump never holds another container's calls.
            write = self.recorder.writer(
                t.slab,
                list(inc.triggers),
                t.container_header(),
                t.pod,
                window,
                self.enrichment.buffers_allowed(t.ref),
                gen=t.gen,
            )
        except TraceloopError as e:
            metrics.DUMPS.labels("failed").inc()
            log.error(
                "dump abandoned", extra={"fields": {"container": t.ref.name, "error": str(e)}}
            )
            return
        locations = []
        for sink in self.sinks:
            try:
                locations.append(sink.store(name, write))
                metrics.DUMPS.labels("written").inc()
            except TraceloopError as e:
                metrics.DUMPS.labels("failed").inc()
                log.error(
                    "dump failed", extra={"fields": {"container": t.ref.name, "error": str(e)}}
                )
        metrics.DUMP_SECONDS.observe(time.monotonic() - started)
        inc.location = locations[0] if locations else None
        if locations:
            log.info(
                "dump written",
                extra={
                    "fields": {
                        "container": t.ref.name,
                        "reason": ",".join(sorted({x.reason for x in inc.triggers})),
                        "dump": " ".join(locations),
                    }
                },
            )
            self.enrichment.dumped(inc, t.pod or self.enrichment.pod_of(t.ref))
