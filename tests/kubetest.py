"""Helpers for tests that run the real kubernetes client against tests/kube_server.py."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kube_server import FakeKube, make_pod, restart_container
from waits import wait_until

from sidecar.kube.client import api_client, core_v1
from sidecar.kube.informer import PodWatcher
from sidecar.kube.meta import Selection
from triggers.kube import PodRestart, RestartDetector

if TYPE_CHECKING:
    from daemonutil import Daemon
    from runc import Runc


def core_for(kube: FakeKube, tmp: Path) -> Any:
    """A CoreV1Api configured from a kubeconfig file, as a user would configure it."""
    return core_v1(api_client(str(kube.write_kubeconfig(tmp / "kubeconfig"))))


class Restarts:
    """Collects on_restart calls (they come from the watcher's thread)."""

    def __init__(self) -> None:
        self.items: list[PodRestart] = []
        self._lock = threading.Lock()

    def __call__(self, r: PodRestart) -> None:
        with self._lock:
            self.items.append(r)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def keys(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(r.pod, r.restart_count) for r in self.items]

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        """Until `count` restarts were reported (fails the test after `timeout`)."""
        wait_until(lambda: len(self) >= count, timeout, f"{count} reported restarts")


def restart_watcher(
    core: Any,
    got: Callable[[PodRestart], None],
    selection: Selection | None = None,
    **kw: Any,
) -> PodWatcher:
    """A pod cache whose listener is the restart detector, as the daemon builds them."""
    sel = selection or Selection()
    return PodWatcher(core, RestartDetector(got, wants=sel.wants), **kw)


@contextmanager
def running(watcher: PodWatcher) -> Iterator[PodWatcher]:
    thread = watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop(timeout=10)
        assert not thread.is_alive(), "the watcher did not stop"


def sync_point(kube: FakeKube, watcher: PodWatcher, timeout: float = 15.0) -> None:
    """Wait until the watcher has handled every change made so far, callbacks included,
    and is watching.

    The watcher learns of revisions only through events and bookmarks, and handles
    them one at a time, in the order the server sends them. So: first until its
    resourceVersion reaches the server's current one (every change is in its
    cache); then until it has handled one more bookmark, which it can only do
    after the callbacks of the last change returned, on a watch that is open.
    Bookmarks are sent again and again: one sent while the watcher is between
    two watches reaches no one.
    """
    target = kube.resource_version
    deadline = time.monotonic() + timeout

    def reached() -> bool:
        kube.bookmark()
        rv = watcher.resource_version
        return rv is not None and int(rv) >= target

    wait_until(reached, timeout, f"the watcher to reach resourceVersion {target}")
    seen = watcher.stats.bookmarks

    def bookmarked() -> bool:
        kube.bookmark()
        return watcher.stats.bookmarks > seen

    wait_until(bookmarked, max(deadline - time.monotonic(), 1.0), "a bookmark on an open watch")


# ---- chaos --------------------------------------------------------------------------------


@dataclass
class Chaos:
    """A run of restarts under faults: drops, 410s (live and on resume), one outage."""

    duration: float  # seconds of restarts and faults
    outage: float  # seconds the server is unreachable, once, in the middle
    pods: int = 4
    fault_gap: tuple[float, float] = (0.5, 3.0)  # seconds between faults
    restart_gap: tuple[float, float] = (0.05, 0.4)  # seconds between restarts
    seed: int = 6
    log: list[str] = field(default_factory=list)

    def run(self, kube: FakeKube, watcher: PodWatcher) -> None:
        rnd = random.Random(self.seed)
        names = [f"app-{i}" for i in range(self.pods)]
        for name in names:
            kube.create_pod(
                make_pod("chaos", name, "node1", [("main", "busybox", f"containerd://{name}-0")])
            )
        wait_until(watcher.synced.is_set, what="the first list")
        stop = threading.Event()
        counter = [0]

        def restarts() -> None:
            while not stop.wait(rnd.uniform(*self.restart_gap)):
                name = rnd.choice(names)
                counter[0] += 1
                new = f"containerd://{name}-{counter[0]}"
                kube.update_pod(
                    "chaos", name, partial(restart_container, container="main", new_id=new)
                )

        thread = threading.Thread(target=restarts, daemon=True)
        thread.start()
        start = time.monotonic()
        outage_at = start + self.duration / 2 - self.outage / 2
        outage_done = False
        faults = ["drop", "expire", "compact-drop", "drop", "bookmark"]
        try:
            while time.monotonic() - start < self.duration:
                time.sleep(rnd.uniform(*self.fault_gap))  # the pace of faults is the test
                if not outage_done and time.monotonic() >= outage_at:
                    self.log.append("outage")
                    kube.go_down()
                    # A pod that appears and restarts while nobody can watch.
                    kube.create_pod(
                        make_pod(
                            "chaos",
                            "newcomer",
                            "node1",
                            [("main", "busybox", "containerd://newcomer-0")],
                        )
                    )
                    kube.update_pod(
                        "chaos",
                        "newcomer",
                        lambda p: restart_container(
                            p, "main", "containerd://newcomer-1", exit_code=137, reason="OOMKilled"
                        ),
                    )
                    # The outage's length is the test: the watcher's backoff runs through it.
                    time.sleep(self.outage / 2)
                    kube.compact()
                    time.sleep(self.outage / 2)
                    kube.come_up()
                    outage_done = True
                    continue
                fault = rnd.choice(faults)
                self.log.append(fault)
                if fault == "drop":
                    kube.drop_watches()
                elif fault == "expire":
                    kube.expire_watches()
                elif fault == "compact-drop":
                    kube.compact()
                    kube.drop_watches()
                else:
                    kube.bookmark()
        finally:
            stop.set()
            thread.join()
            kube.come_up()


def check_every_restart_once(kube: FakeKube, got: Restarts) -> int:
    """No restart missed, none reported twice. Returns how many restarts there were.

    Restarts that happened together in a gap the server had forgotten can only
    be seen as one (restartCount jumped); the report counts the others in
    `missed`, so the sum over reports must be the final restartCount exactly.
    """
    final: dict[str, int] = {}
    for p in kube.pods():
        final[p["metadata"]["name"]] = p["status"]["containerStatuses"][0]["restartCount"]
    seen: dict[str, int] = {}
    last: dict[str, int] = {}
    for r in got.items:
        assert r.restart_count > last.get(r.pod, 0), f"{r.pod} restart {r.restart_count} again"
        last[r.pod] = r.restart_count
        seen[r.pod] = seen.get(r.pod, 0) + 1 + r.missed
    assert seen == {k: v for k, v in final.items() if v}, (seen, final)
    return sum(final.values())


def kube_daemon(
    runc: Runc, tmp_path: Path, kube: FakeKube, *extra: str
) -> AbstractContextManager[Daemon]:
    """`traceloop daemon` on node1 of `kube`, recording runc's containers."""
    from daemonutil import daemon

    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    return daemon(
        runc.cgroup_root(), tmp_path / "dumps",
        "--kubernetes", "on", "--kubeconfig", str(kc), "--node-name", "node1", *extra,
    )  # fmt: skip


def daemon_chaos(
    runc: Runc, tmp_path: Path, *, pods: int, rounds: int, outage: float, seed: int = 6
) -> None:
    """`traceloop daemon` with real containers restarting under API faults.

    Each round, every pod's container runs (a real runc container that exits 0,
    so only the pod restart can cause a dump) and the kubelet reports its
    restart, with a fault in between: dropped watches, 410s live and on
    resume, and once an outage of `outage` seconds with a compaction (one
    restart per pod in it: restarts that happen together in a forgotten gap
    can only be seen as one). Every ended incarnation gets exactly one dump
    and one Event; nothing is reported late (that would be a second report);
    the daemon never exits.
    """
    from daemonutil import read, wait_recorded

    kube = FakeKube().start()
    rnd = random.Random(seed)
    try:
        names = [f"p{i}" for i in range(pods)]
        for n in names:
            kube.create_pod(
                make_pod("chaos", n, "node1", [("app", "busybox", f"containerd://{n}-0")])
            )
        ended: list[str] = []
        # Every restart of a pod's container counts against one rate-limit key:
        # `rounds` restarts are a crash loop to the daemon, and this test is about
        # the watch under faults, not about crash loops.
        with kube_daemon(runc, tmp_path, kube, "--rate-limit", str(rounds + 1)) as d:
            for r in range(rounds):
                down = r == rounds // 2
                if down:
                    kube.go_down()
                for n in names:
                    cid = f"{n}-{r}"
                    res = runc.run(["/bin/sh", "-c", f"cat /m-{cid}; exit 0"], name=cid)
                    assert res.returncode == 0
                    wait_recorded(d, cid)
                    fault = rnd.choice(["drop", "expire", "compact-drop", "none"])
                    if not down and fault == "drop":
                        kube.drop_watches()
                    elif not down and fault == "expire":
                        kube.expire_watches()
                    elif not down and fault == "compact-drop":
                        kube.compact()
                        kube.drop_watches()
                    kube.update_pod(
                        "chaos",
                        n,
                        partial(
                            restart_container,
                            container="app",
                            new_id=f"containerd://{n}-{r + 1}",
                            exit_code=0,
                            reason="Completed",
                        ),
                    )
                    ended.append(cid)
                if down:  # the outage's length is the test
                    time.sleep(outage / 2)
                    kube.compact()
                    time.sleep(outage / 2)
                    kube.come_up()
                # The next restarts come after these were seen, as a kubelet's
                # back-off spaces them out (10 s, 20 s, ... in a crash loop).
                d.wait_dumps(len(ended), timeout=60 + outage)
            dumps = d.wait_dumps(len(ended))
            wait_until(lambda: len(kube.events("chaos")) >= len(ended), 60, "the Events")
            assert d.proc.poll() is None, "the daemon exited"
        headers = [read(p)[0] for p in dumps]
        assert sorted(h["pod"]["container_id"] for h in headers) == sorted(ended)
        assert all([t["reason"] for t in h["triggers"]] == ["pod-restart"] for h in headers)
        assert len(dumps) == len(ended)
        # A restart reported twice would be a late trigger, with an Event of its own.
        messages = [e["message"] for e in kube.events("chaos")]
        assert not [m for m in messages if "Kubernetes reports" in m]
        assert len(messages) == len(ended)
    finally:
        kube.stop()
