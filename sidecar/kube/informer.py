"""The pod cache: a list-then-watch informer of this node's pods.

List, then watch from the list's resourceVersion (the model client-go's
reflector and kopf use):

- every event and every BOOKMARK moves the resourceVersion on, so a new watch
  resumes exactly where the last one stopped;
- a watch that ends (server timeout) or drops resumes from there;
- 410 Gone (an ERROR event or an HTTP status: the server no longer has the
  history since our resourceVersion) means list again, and diff the list
  against the cache, so a restart that happened in the gap still triggers;
- failures back off with tenacity; nothing but `stop()` ends the watch.

Every change of a pod, from the watch or from a re-list diff, goes to one
`PodListener` with the state before it (triggers/kube.py's restart detector
is the listener). Deleted pods stay in the cache for `retention` seconds,
because crash metadata is often asked for after the pod is gone.

The listener and `on_container` (a container ID seen for the first time, so a
container recorded before its pod was known can be named) run on the
watcher's thread; they should hand the work off and return quickly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import tenacity
import urllib3
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from sidecar.kube.meta import ContainerState, PodMeta, PodState, parse_pod
from sidecar.model.containers import split_container_id

log = logging.getLogger("traceloop.kube")

# kubernetes.watch carries no annotations; a typed name for its Watch.
_new_watch: Callable[[], Any] = watch.Watch

MAX_IDS_PER_POD = 64  # container IDs remembered per pod (crash loops make many)


@dataclass
class WatchStats:
    """Counters for metrics and tests."""

    lists: int = 0  # successful lists (the first and every re-list)
    watches: int = 0  # watch requests made
    expired: int = 0  # 410 Gone answers
    errors: int = 0  # failed requests (dropped, refused, server errors)
    events: int = 0  # ADDED, MODIFIED, DELETED events applied
    bookmarks: int = 0


class PodListener(Protocol):
    """Told of every pod change, in order, on the watcher's thread."""

    def pod_changed(self, old: PodState | None, new: PodState, *, listed_once: bool) -> None:
        """`old` is None for a pod new to the cache; `listed_once` is false only
        during the first list (whose pods' restarts happened before we looked)."""
        ...

    def pod_forgotten(self, uid: str) -> None:
        """The pod left the cache for good (deleted longer than `retention` ago)."""
        ...


class _Expired(Exception):
    """410 Gone: our resourceVersion is older than the server's history."""


class _Unproductive(Exception):
    """A watch ended before it gave anything; back off before the next one."""


def _is_gone(e: BaseException) -> bool:
    return isinstance(e, ApiException) and e.status == 410


def _short(e: BaseException) -> str:
    if isinstance(e, ApiException):
        return f"HTTP {e.status} {e.reason}"
    return f"{type(e).__name__}: {str(e)[:200]}"


class PodWatcher:
    """Watches the pods of a node (or one pod) and keeps what a dump needs of them.

    Scope: `node` (pods with spec.nodeName=node), or `namespace` + `pod_name`
    (sidecar mode: the own pod only), or both, or neither (all pods, for tests).
    """

    def __init__(
        self,
        core: Any,  # kubernetes.client.CoreV1Api
        listener: PodListener,
        *,
        on_container: Callable[[PodMeta], None] | None = None,
        node: str | None = None,
        namespace: str | None = None,
        pod_name: str | None = None,
        watch_timeout: int = 120,
        connect_timeout: float = 10.0,
        retention: float = 600.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._core = core
        self._listener = listener
        self._on_container = on_container
        self._namespace = namespace
        selectors = []
        if node:
            selectors.append(f"spec.nodeName={node}")
        if pod_name:
            selectors.append(f"metadata.name={pod_name}")
        self.field_selector = ",".join(selectors) or None
        self._watch_timeout = watch_timeout
        self._connect_timeout = connect_timeout
        self._retention = retention
        self._clock = clock
        self._stop = threading.Event()
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._wait = tenacity.wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._lock = threading.Lock()
        self._pods: dict[str, PodState] = {}
        self._deleted: dict[str, tuple[PodState, float]] = {}  # uid -> (pod, when deleted)
        # container ID -> (pod uid, container name, image), including ended incarnations
        self._ids: dict[str, tuple[str, str, str]] = {}
        self._pod_ids: dict[str, list[str]] = {}
        # Changes applied to the cache, for the listener (outside the lock).
        self._changes: list[tuple[PodState | None, PodState, bool]] = []
        self._forgotten: list[str] = []
        self._new: list[PodMeta] = []  # container IDs first seen, for on_container
        self._rv: str | None = None
        self._listed_once = False
        self._watch: Any = None
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()  # set once the first list is in the cache
        self.stats = WatchStats()

    # ---- queries (any thread) -------------------------------------------------

    @property
    def resource_version(self) -> str | None:
        return self._rv

    def _lookup(
        self, container_id: str, pod_uid: str | None = None
    ) -> tuple[PodState, str, str] | None:
        """The pod, container name and image of a container ID. With `pod_uid` (what
        the container's cgroup path says), a pod with another UID is not it: a
        cgroup named like another pod's container does not take that identity."""
        cid = split_container_id(container_id)[1]
        with self._lock:
            entry = self._ids.get(cid)
            if entry is None:
                return None
            uid, name, image = entry
            if pod_uid and uid != pod_uid:
                return None
            pod = self._pods.get(uid) or self._deleted.get(uid, (None, 0.0))[0]
        return (pod, name, image) if pod is not None else None

    def pod_for(self, container_id: str, pod_uid: str | None = None) -> PodMeta | None:
        """The pod and container a runtime container ID belongs to (or belonged to)."""
        found = self._lookup(container_id, pod_uid)
        if found is None:
            return None
        pod, name, image = found
        return PodMeta(
            pod.node,
            pod.namespace,
            pod.name,
            pod.uid,
            name,
            split_container_id(container_id)[1],
            image,
        )

    def pod_state(self, container_id: str, pod_uid: str | None = None) -> PodState | None:
        """The pod of a container: by its ID once the kubelet reported it, else by the
        pod UID its cgroup path carries; None while neither is known."""
        found = self._lookup(container_id, pod_uid)
        if found is not None:
            return found[0]
        if not pod_uid:
            return None
        with self._lock:
            return self._pods.get(pod_uid) or self._deleted.get(pod_uid, (None, 0.0))[0]

    def container_ids(self, pod_uid: str) -> frozenset[str] | None:
        """The IDs of the pod's containers (init, regular and ephemeral, current
        and previous incarnations) as its status reported them; None for a pod
        the cache does not know."""
        with self._lock:
            if pod_uid not in self._pods and pod_uid not in self._deleted:
                return None
            return frozenset(self._pod_ids.get(pod_uid, ()))

    def pods(self) -> list[PodState]:
        with self._lock:
            return list(self._pods.values())

    def deleted_pods(self) -> list[PodState]:
        with self._lock:
            return [p for p, _ in self._deleted.values()]

    # ---- running ----------------------------------------------------------------

    def start(self) -> threading.Thread:
        self._thread = threading.Thread(target=self.run, name="kube-pod-watch", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        """End the watch and wait (up to `timeout` seconds) for its thread."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        while True:
            # Again and again: a watch being opened right now has no connection
            # to cut yet, and would otherwise wait for its server-side timeout.
            w = self._watch
            if w is not None:
                w.stop()
            t = self._thread
            if t is None or t is threading.current_thread() or not t.is_alive():
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            t.join(min(left, 0.1))

    def run(self) -> None:
        """List and watch until `stop()`. Never returns for any other reason."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Exception),
            wait=self._wait,
            stop=lambda _state: self._stop.is_set(),
            sleep=self._backoff_sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        while not self._stop.is_set():
            try:
                retrying(self._cycle)
            except Exception:  # only once stopped: tenacity gave up because of stop()
                break
        log.info("pod watch stopped")

    def _backoff_sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        e = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if isinstance(e, _Expired):
            log.info("pod watch: resourceVersion expired (410), listing again in %.1fs", wait)
        elif isinstance(e, _Unproductive):
            log.info("pod watch: watch ended at once, again in %.1fs", wait)
        elif e is not None:
            log.warning("pod watch: %s; retrying in %.1fs", _short(e), wait)

    def _cycle(self) -> None:
        """List if needed, then one watch. Returns when the watch ended after doing
        something (so the next one starts at once); raises to be backed off."""
        if self._stop.is_set():
            return
        if self._rv is None:
            self._relist()
        self._watch_once()

    # ---- list ---------------------------------------------------------------------

    def _list_call(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        if self._namespace:
            return self._core.list_namespaced_pod, (self._namespace,)
        return self._core.list_pod_for_all_namespaces, ()

    def _relist(self) -> None:
        func, args = self._list_call()
        kwargs: dict[str, Any] = {"_request_timeout": (self._connect_timeout, 60)}
        if self.field_selector:
            kwargs["field_selector"] = self.field_selector
        try:
            result = func(*args, **kwargs)
        except Exception:
            self.stats.errors += 1
            raise
        api = self._core.api_client
        items = [parse_pod(api.sanitize_for_serialization(p)) for p in result.items]
        rv = str(result.metadata.resource_version)
        with self._lock:
            seen = set()
            for pod in items:
                seen.add(pod.uid)
                self._apply(pod, deleted=False)
            now = self._clock()
            for uid in [u for u in self._pods if u not in seen]:
                # Deleted while we were not watching: its last state is what we had.
                self._deleted[uid] = (self._pods.pop(uid), now)
            self._purge(now)
        self._rv = rv
        self._listed_once = True
        self.stats.lists += 1
        self.synced.set()
        log.info("pod watch: listed %d pods at resourceVersion %s", len(items), rv)
        self._emit()

    # ---- watch --------------------------------------------------------------------

    def _watch_once(self) -> None:
        func, args = self._list_call()
        kwargs: dict[str, Any] = {
            "resource_version": self._rv,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._watch_timeout,
            # The server ends the watch after timeout_seconds; a read that waits
            # much longer than that means the connection is dead.
            "_request_timeout": (self._connect_timeout, self._watch_timeout + 30),
        }
        if self.field_selector:
            kwargs["field_selector"] = self.field_selector
        w = _new_watch()
        self._watch = w
        self.stats.watches += 1
        started = self._clock()
        got = 0
        try:
            for ev in w.stream(func, *args, **kwargs):
                if not isinstance(ev, dict):
                    continue  # a line that was not JSON
                got += 1
                self._handle(ev)
                if self._stop.is_set():
                    w.stop()
        except Exception as e:
            if self._stop.is_set():
                return
            if _is_gone(e):
                self.stats.expired += 1
                self._rv = None
                raise _Expired() from e
            self.stats.errors += 1
            if not isinstance(e, ApiException | urllib3.exceptions.HTTPError | OSError):
                # Not the network or the server: something in what it sent. Start
                # over from a fresh list rather than replay the same events.
                log.exception("pod watch: unexpected error; listing again")
                self._rv = None
                raise
            if got:
                # A watch that delivered events and then dropped is a healthy
                # connection that ended: resume at once from where it stopped.
                log.info("pod watch: stream dropped (%s); resuming at %s", _short(e), self._rv)
                return
            raise
        finally:
            self._watch = None
        if not got and self._clock() - started < 1.0 and not self._stop.is_set():
            raise _Unproductive()

    def _handle(self, ev: dict[str, Any]) -> None:
        kind = ev.get("type")
        raw = ev.get("raw_object")
        if not isinstance(raw, dict):
            return
        if kind == "BOOKMARK":
            rv = (raw.get("metadata") or {}).get("resourceVersion")
            if rv:
                self._rv = str(rv)
            self.stats.bookmarks += 1
            return
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        pod = parse_pod(raw)
        with self._lock:
            self._apply(pod, deleted=kind == "DELETED")
            self._purge(self._clock())
        if pod.resource_version:
            self._rv = pod.resource_version
        self.stats.events += 1
        self._emit()

    # ---- cache (called with the lock held) ----------------------------------------

    def _apply(self, pod: PodState, *, deleted: bool) -> None:
        old = self._pods.get(pod.uid)
        if old is None and pod.uid in self._deleted:
            old = self._deleted[pod.uid][0]
        self._changes.append((old, pod, self._listed_once))
        if deleted:
            self._pods.pop(pod.uid, None)
            self._deleted[pod.uid] = (pod, self._clock())
        elif pod.uid in self._deleted:
            self._deleted[pod.uid] = (pod, self._deleted[pod.uid][1])  # late news of a gone pod
        else:
            self._pods[pod.uid] = pod
        self._index(pod)

    def _index(self, pod: PodState) -> None:
        ids = self._pod_ids.setdefault(pod.uid, [])
        c: ContainerState
        for c in pod.containers:
            for cid in (c.previous_id, c.container_id):
                if not cid:
                    continue
                if cid not in self._ids:
                    ids.append(cid)
                    self._new.append(
                        PodMeta(pod.node, pod.namespace, pod.name, pod.uid, c.name, cid, c.image)
                    )
                self._ids[cid] = (pod.uid, c.name, c.image)
        while len(ids) > MAX_IDS_PER_POD:
            self._ids.pop(ids.pop(0), None)

    def _purge(self, now: float) -> None:
        for uid in [u for u, (_, t) in self._deleted.items() if now - t > self._retention]:
            del self._deleted[uid]
            for cid in self._pod_ids.pop(uid, []):
                self._ids.pop(cid, None)
            self._forgotten.append(uid)

    # ---- reporting ------------------------------------------------------------------

    def _emit(self) -> None:
        with self._lock:
            new, self._new = self._new, []
            changes, self._changes = self._changes, []
            forgotten, self._forgotten = self._forgotten, []
        if self._on_container is not None:
            for meta in new:
                try:
                    self._on_container(meta)
                except Exception:
                    log.exception("pod watch: on_container failed for %s", meta.container_id)
        for old, pod, listed_once in changes:
            try:
                self._listener.pod_changed(old, pod, listed_once=listed_once)
            except Exception:
                log.exception("pod watch: the listener failed for %s/%s", pod.namespace, pod.name)
        for uid in forgotten:
            self._listener.pod_forgotten(uid)
