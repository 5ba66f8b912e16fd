"""A stand-in Kubernetes API server for pods and events, on loopback, for tests.

There is no API server binary on this machine, so this speaks the parts of
the real wire protocol traceloop uses, as faithfully as it can:

- GET /api/v1/pods, /api/v1/namespaces/NS/pods[/NAME]: a PodList whose
  metadata.resourceVersion is the store's current revision; `fieldSelector`
  (the fields the API server supports for pods, `=`, `==`, `!=`); an
  unsupported field is a 400; `labelSelector` (the kubectl plugin finds the
  recorder pods by label), parsed with traceloop's own label-selector parser,
  whose grammar tests/test_kube_pure.py checks against Kubernetes'.
- `?watch=true`: HTTP/1.1 chunked stream of JSON lines
  `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}`. From a
  resourceVersion: every change after it (an object that starts or stops
  matching the selectors is ADDED or DELETED, as the watch cache does).
  Without one (or "0"): synthetic ADDED events for the current state first.
  A resourceVersion older than the compacted history: an ERROR event holding
  a Status with code 410 (reason Expired), then the stream ends.
  `allowWatchBookmarks`: BOOKMARK events (object with only
  metadata.resourceVersion) when the test asks or every `bookmark_interval`.
  `timeoutSeconds`: the stream ends cleanly (last chunk) after that long.
- POST /api/v1/namespaces/NS/events: legacy core/v1 Event validation (a
  name that is a DNS subdomain, namespace agreement, RFC 3339 times; 422
  otherwise), 201 with the stored object, 409 for a name that exists; GET
  lists them (EventList).
- Bearer-token authentication, as a kubeconfig would configure it.

Objects are complete (every field the client's models require), because the
real client rejects incomplete ones.

Faults a test can cause: `drop_watches()` (connections cut mid-stream, no
last chunk), `expire_watches()` (ERROR 410 on live watches), `compact()`
(history before now is gone: resuming from an older resourceVersion gets
410), `go_down()` / `come_up()` (the port refuses connections, every open
connection is cut).
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sidecar.kube.selector import parse as label_selector

TOKEN = "traceloop-test-token"

# Field selectors the API server accepts for pods (pkg/registry/core/pod/strategy.go).
_POD_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "metadata.name": lambda p: p["metadata"].get("name", ""),
    "metadata.namespace": lambda p: p["metadata"].get("namespace", ""),
    "spec.nodeName": lambda p: p["spec"].get("nodeName", ""),
    "spec.restartPolicy": lambda p: p["spec"].get("restartPolicy", ""),
    "spec.schedulerName": lambda p: p["spec"].get("schedulerName", ""),
    "spec.serviceAccountName": lambda p: p["spec"].get("serviceAccountName", ""),
    "spec.hostNetwork": lambda p: str(bool(p["spec"].get("hostNetwork", False))).lower(),
    "status.phase": lambda p: p.get("status", {}).get("phase", ""),
    "status.podIP": lambda p: p.get("status", {}).get("podIP", ""),
    "status.nominatedNodeName": lambda p: p.get("status", {}).get("nominatedNodeName", ""),
}


# What the API server accepts as an object name (apimachinery's IsDNS1123Subdomain).
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class BadRequest(Exception):
    pass


class Expired(Exception):
    """Answered as HTTP 410 (with `expired_as_http`), not as an ERROR event."""


# ---- selectors ---------------------------------------------------------------------------


def field_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    reqs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([^=!]+)(==|=|!=)(.*)", part)
        if not m:
            raise BadRequest(f"invalid field selector: {part!r}")
        key, op, value = m.groups()
        if key not in _POD_FIELDS:
            raise BadRequest(f"field label not supported: {key}")
        reqs.append((_POD_FIELDS[key], op != "!=", value))
    return lambda pod: all((get(pod) == value) == eq for get, eq, value in reqs)


# ---- objects --------------------------------------------------------------------------


def container_status(
    name: str, image: str, container_id: str = "", restart_count: int = 0
) -> dict[str, Any]:
    st: dict[str, Any] = {
        "name": name,
        "image": image,
        "imageID": f"docker.io/library/{image}@sha256:{'0' * 64}",
        "ready": bool(container_id),
        "started": bool(container_id),
        "restartCount": restart_count,
        "lastState": {},
        "state": (
            {"running": {"startedAt": now_rfc3339()}}
            if container_id
            else {"waiting": {"reason": "ContainerCreating"}}
        ),
    }
    if container_id:
        st["containerID"] = container_id
    return st


def make_pod(
    namespace: str,
    name: str,
    node: str,
    containers: list[tuple[str, str, str]],  # (name, image, containerID with prefix)
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    init_containers: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """A complete Pod as the API serves it (uid and resourceVersion set on create)."""
    pod: dict[str, Any] = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
            "containers": [{"name": n, "image": i} for n, i, _ in containers],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "podIP": "10.1.0.2",
            "startTime": now_rfc3339(),
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [container_status(n, i, cid) for n, i, cid in containers],
        },
    }
    if annotations:
        pod["metadata"]["annotations"] = dict(annotations)
    if init_containers:
        pod["spec"]["initContainers"] = [{"name": n, "image": i} for n, i, _ in init_containers]
        pod["status"]["initContainerStatuses"] = [
            container_status(n, i, cid) for n, i, cid in init_containers
        ]
    return pod


def restart_container(
    pod: dict[str, Any],
    container: str,
    new_id: str,
    *,
    exit_code: int = 1,
    reason: str = "Error",
    signal: int | None = None,
) -> None:
    """What the kubelet does when a container ended and was started again."""
    for key in ("containerStatuses", "initContainerStatuses"):
        for cs in pod["status"].get(key, []):
            if cs["name"] != container:
                continue
            term: dict[str, Any] = {
                "exitCode": exit_code,
                "reason": reason,
                "message": "last words: password=hunter2",  # must never reach a dump
                "startedAt": cs.get("state", {}).get("running", {}).get("startedAt", now_rfc3339()),
                "finishedAt": now_rfc3339(),
            }
            if signal is not None:
                term["signal"] = signal
            if cs.get("containerID"):
                term["containerID"] = cs["containerID"]
            cs["lastState"] = {"terminated": term}
            cs["restartCount"] += 1
            cs["containerID"] = new_id
            cs["state"] = {"running": {"startedAt": now_rfc3339()}}
            return
    raise KeyError(container)


# ---- the server -----------------------------------------------------------------------


@dataclass
class _Watch:
    allow_bookmarks: bool
    commands: list[str] = field(default_factory=list)
    ending: bool = False  # told to drop or expire: no longer counts as live


@dataclass
class _Change:
    rv: int
    type: str
    old: dict[str, Any] | None
    new: dict[str, Any]


class FakeKube:
    def __init__(
        self,
        *,
        bookmark_interval: float | None = None,
        history_limit: int = 0,
        expired_as_http: bool = False,
    ):
        self.expired_as_http = expired_as_http
        self._lock = threading.Condition()
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._events: dict[tuple[str, str], dict[str, Any]] = {}
        self._rv = 100
        self._compacted = 100  # history at or before this revision is gone
        self._history: list[_Change] = []
        self._history_limit = history_limit
        self._watches: list[_Watch] = []
        self._conns: set[socket.socket] = set()
        self._bookmark_interval = bookmark_interval
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, query

    # ---- life ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKube:
        self._serve(0)
        return self

    def _serve(self, port: int) -> None:
        kube = self

        class Handler(_Handler):
            server_kube = kube

        srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        srv.daemon_threads = True
        self._server = srv
        self.port = srv.server_address[1]
        self._thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.go_down()

    def go_down(self) -> None:
        """Refuse connections and cut every open one, until `come_up()`."""
        srv, self._server = self._server, None
        if srv is None:
            return
        srv.shutdown()
        srv.server_close()
        self.drop_watches()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            _cut(c)

    def come_up(self) -> None:
        if self._server is None:
            self._serve(self.port)

    @property
    def up(self) -> bool:
        return self._server is not None

    def write_kubeconfig(self, path: Path, token: str = TOKEN) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": token}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    # ---- store -----------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def _record(self, type_: str, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        self._history.append(_Change(self._rv, type_, old, new))
        if self._history_limit and len(self._history) > self._history_limit:
            drop = self._history[: len(self._history) - self._history_limit]
            self._compacted = drop[-1].rv
            del self._history[: len(drop)]
        self._lock.notify_all()

    def create_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            pod = copy.deepcopy(pod)
            meta = pod["metadata"]
            key = (meta["namespace"], meta["name"])
            if key in self._pods:
                raise ValueError(f"pod {key} exists")
            self._rv += 1
            meta.setdefault("uid", str(uuid.uuid4()))
            meta["resourceVersion"] = str(self._rv)
            meta["creationTimestamp"] = now_rfc3339()
            self._pods[key] = pod
            self._record("ADDED", None, copy.deepcopy(pod))
            return copy.deepcopy(pod)

    def update_pod(
        self, namespace: str, name: str, change: Callable[[dict[str, Any]], object]
    ) -> dict[str, Any]:
        with self._lock:
            old = self._pods[(namespace, name)]
            pod = copy.deepcopy(old)
            change(pod)
            self._rv += 1
            pod["metadata"]["resourceVersion"] = str(self._rv)
            self._pods[(namespace, name)] = pod
            self._record("MODIFIED", copy.deepcopy(old), copy.deepcopy(pod))
            return copy.deepcopy(pod)

    def delete_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            old = self._pods.pop((namespace, name))
            pod = copy.deepcopy(old)
            self._rv += 1
            pod["metadata"]["resourceVersion"] = str(self._rv)
            pod["metadata"]["deletionTimestamp"] = now_rfc3339()
            self._record("DELETED", old, pod)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._pods[(namespace, name)])

    def pods(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(p) for _, p in sorted(self._pods.items())]

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(e)
                for (ns, _), e in self._events.items()
                if namespace is None or ns == namespace
            ]

    # ---- faults ----------------------------------------------------------------------

    def compact(self) -> None:
        """Forget the history up to now (etcd compaction / watch cache roll-over)."""
        with self._lock:
            self._compacted = self._rv
            self._history.clear()

    def _command(self, cmd: str) -> int:
        with self._lock:
            live = [w for w in self._watches if not w.ending]
            for w in live:
                w.commands.append(cmd)
                w.ending = w.ending or cmd in ("drop", "expire")
            self._lock.notify_all()
            return len(live)

    def drop_watches(self) -> int:
        """Cut every watch connection mid-stream. Returns how many there were."""
        return self._command("drop")

    def expire_watches(self) -> int:
        """Send ERROR 410 on every live watch (the watcher fell too far behind)."""
        return self._command("expire")

    def bookmark(self) -> int:
        return self._command("bookmark")

    def watch_count(self) -> int:
        """Live watches (not counting those told to drop or expire)."""
        with self._lock:
            return sum(not w.ending for w in self._watches)

    def wait_for_watch(self, timeout: float = 10.0, count: int = 1) -> None:
        """Until `count` watches are live; fails the test (AssertionError) after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while (live := sum(not w.ending for w in self._watches)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{live} live watches after {timeout}s, wanted {count}")
                self._lock.wait(left)

    # ---- request handling (called from handler threads) ------------------------------

    def _match(self, q: dict[str, str], namespace: str | None) -> Callable[[dict[str, Any]], bool]:
        fsel = field_matcher(q.get("fieldSelector", ""))
        try:
            lsel = label_selector(q["labelSelector"]) if q.get("labelSelector") else None
        except ValueError as e:
            raise BadRequest(f"invalid labelSelector: {e}") from None
        return lambda p: (
            (namespace is None or p["metadata"]["namespace"] == namespace)
            and fsel(p)
            and (lsel is None or lsel.matches(p["metadata"].get("labels") or {}))
        )

    def list_pods(self, q: dict[str, str], namespace: str | None) -> dict[str, Any]:
        match = self._match(q, namespace)
        with self._lock:
            items = []
            for _, p in sorted(self._pods.items()):
                if match(p):
                    item = copy.deepcopy(p)
                    item.pop("kind", None)  # list items carry no kind/apiVersion
                    item.pop("apiVersion", None)
                    items.append(item)
            return {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }

    def watch_pods(self, q: dict[str, str], namespace: str | None) -> Generator[dict[str, Any]]:
        """Check the request (BadRequest), then return its stream of events.

        A "drop" item in the stream means: cut the connection now.
        """
        match = self._match(q, namespace)
        rv_text = q.get("resourceVersion", "")
        if rv_text not in ("", "0"):
            try:
                int(rv_text)
            except ValueError:
                raise BadRequest(f"invalid resource version: {rv_text!r}") from None
            with self._lock:
                if self.expired_as_http and int(rv_text) < self._compacted:
                    raise Expired(f"too old resource version: {rv_text} ({self._compacted})")
        return self._watch_stream(q, match, rv_text)

    def _watch_stream(
        self, q: dict[str, str], match: Callable[[dict[str, Any]], bool], rv_text: str
    ) -> Generator[dict[str, Any]]:
        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        allow = q.get("allowWatchBookmarks") == "true"
        w = _Watch(allow_bookmarks=allow)
        interval = self._bookmark_interval
        next_bookmark = time.monotonic() + interval if interval else None
        expired = None
        initial: list[dict[str, Any]] = []
        with self._lock:
            if rv_text in ("", "0"):
                initial = [
                    {"type": "ADDED", "object": copy.deepcopy(p)}
                    for _, p in sorted(self._pods.items())
                    if match(p)
                ]
                last = self._rv
            else:
                last = int(rv_text)
                if last < self._compacted:
                    expired = status(
                        410, "Expired", f"too old resource version: {last} ({self._compacted})"
                    )
            if expired is None:
                self._watches.append(w)
                self._lock.notify_all()
        if expired is not None:
            # The real server answers 200 and puts the 410 in the stream.
            yield {"type": "ERROR", "object": expired}
            return
        try:
            yield from initial
            while True:
                out: list[dict[str, Any]] = []
                with self._lock:
                    while True:
                        news = [c for c in self._history if c.rv > last]
                        now = time.monotonic()
                        due = next_bookmark is not None and now >= next_bookmark
                        if news or w.commands or now >= deadline or due:
                            break
                        waits = [deadline - now]
                        if next_bookmark is not None:
                            waits.append(next_bookmark - now)
                        self._lock.wait(min(waits))
                    for c in news:
                        ev = _visible(c, match)
                        if ev is not None:
                            out.append(ev)
                        last = c.rv
                    cmds, w.commands = w.commands, []
                    if due and interval:
                        cmds.append("bookmark")
                        next_bookmark = now + interval
                    bookmark_rv = self._rv
                yield from out
                for cmd in cmds:
                    if cmd == "drop":
                        yield {"type": "drop"}
                        return
                    if cmd == "expire":
                        yield {
                            "type": "ERROR",
                            "object": status(
                                410, "Expired", f"too old resource version: {last} ({self._rv})"
                            ),
                        }
                        return
                    if cmd == "bookmark" and allow:
                        last = max(last, bookmark_rv)
                        yield {
                            "type": "BOOKMARK",
                            "object": {
                                "kind": "Pod",
                                "apiVersion": "v1",
                                "metadata": {"resourceVersion": str(last)},
                            },
                        }
                if time.monotonic() >= deadline:
                    return
        finally:
            with self._lock:
                if w in self._watches:
                    self._watches.remove(w)

    def create_event(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        meta = body.get("metadata") or {}
        name = str(meta.get("name") or "")
        if not name and meta.get("generateName"):
            name = str(meta["generateName"]) + uuid.uuid4().hex[:5]
        errors = []
        if body.get("kind", "Event") != "Event":
            errors.append(f"kind: {body.get('kind')!r} is not Event")
        if not name:
            errors.append("metadata.name: Required value: name or generateName is required")
        elif len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
            errors.append(
                f"metadata.name: Invalid value: {name!r}: a lowercase RFC 1123 subdomain must "
                "consist of lower case alphanumeric characters, '-' or '.'"
            )
        if meta.get("namespace", namespace) != namespace:
            errors.append("metadata.namespace: does not match the namespace of the request")
        inv = body.get("involvedObject") or {}
        if inv.get("namespace", namespace) != namespace:
            errors.append("involvedObject.namespace: Invalid value: does not match event.namespace")
        for key in ("firstTimestamp", "lastTimestamp", "eventTime"):
            if body.get(key) is not None:
                try:
                    datetime.fromisoformat(str(body[key]).replace("Z", "+00:00"))
                except ValueError:
                    errors.append(f"{key}: not an RFC 3339 time: {body[key]!r}")
        if errors:
            return 422, status(422, "Invalid", "Event is invalid: " + "; ".join(errors))
        with self._lock:
            if (namespace, name) in self._events:
                return 409, status(409, "AlreadyExists", f'events "{name}" already exists')
            self._rv += 1
            ev = copy.deepcopy(body)
            ev.setdefault("kind", "Event")
            ev.setdefault("apiVersion", "v1")
            ev["metadata"] = {
                **meta,
                "name": name,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(self._rv),
                "creationTimestamp": now_rfc3339(),
            }
            self._events[(namespace, name)] = ev
            return 201, copy.deepcopy(ev)

    def list_events(self, namespace: str | None) -> dict[str, Any]:
        items = self.events(namespace)
        return {
            "kind": "EventList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.resource_version)},
            "items": items,
        }


def _visible(c: _Change, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    """How a change looks through a watch's selectors (as the watch cache shows it)."""
    was = c.old is not None and match(c.old)
    now = match(c.new)
    if c.type == "DELETED":
        return {"type": "DELETED", "object": c.new} if was else None
    if was and now:
        return {"type": "MODIFIED", "object": c.new}
    if now:
        return {"type": "ADDED", "object": c.new}
    if was:
        return {"type": "DELETED", "object": c.new}
    return None


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_POD_PATH = re.compile(r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/pods(?:/(?P<name>[^/]+))?$")
_EVENT_PATH = re.compile(r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/events$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_kube: FakeKube

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests say what went wrong

    def setup(self) -> None:
        super().setup()
        with self.server_kube._lock:
            self.server_kube._conns.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server_kube._lock:
            self.server_kube._conns.discard(self.connection)

    def _send_json(self, code: int, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def _query(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.server_kube.requests.append((self.command, parts.path, q))
        return parts.path, q

    def do_GET(self) -> None:
        path, q = self._query()
        if not self._authorized():
            return
        kube = self.server_kube
        try:
            if m := _POD_PATH.match(path):
                ns, name = m.group("ns"), m.group("name")
                if name:
                    try:
                        self._send_json(200, kube.get_pod(ns or "", name))
                    except KeyError:
                        self._send_json(404, status(404, "NotFound", f'pods "{name}" not found'))
                elif q.get("watch") in ("true", "1"):
                    self._stream(kube.watch_pods(q, ns))
                else:
                    self._send_json(200, kube.list_pods(q, ns))
            elif m := _EVENT_PATH.match(path):
                self._send_json(200, kube.list_events(m.group("ns")))
            else:
                self._send_json(
                    404, status(404, "NotFound", "the server could not find the requested resource")
                )
        except BadRequest as e:
            self._send_json(400, status(400, "BadRequest", str(e)))
        except Expired as e:
            self._send_json(410, status(410, "Expired", str(e)))

    def do_POST(self) -> None:
        path, _ = self._query()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if not self._authorized():
            return
        m = _EVENT_PATH.match(path)
        ns = m.group("ns") if m else None
        if not ns:
            self._send_json(405, status(405, "MethodNotAllowed", "not supported here"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, status(400, "BadRequest", "body is not JSON"))
            return
        code, obj = self.server_kube.create_event(ns, body)
        self._send_json(code, obj)

    def _stream(self, events: Generator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for ev in events:
                if ev["type"] == "drop":
                    self.close_connection = True
                    _cut(self.connection)  # no last chunk: the client sees a broken stream
                    return
                line = json.dumps(ev).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            events.close()
