"""Helpers for tests that run the real kubernetes client against tests/kube_server.py."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube_server import FakeKube, make_pod, restart_container

from sidecar.kubeclient import api_client, core_v1
from sidecar.kubemeta import PodRestart
from triggers.kube import PodWatcher


def wait_until(cond: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll until `cond()` is true; fail the test (AssertionError) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.02)


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


@contextmanager
def running(watcher: PodWatcher) -> Iterator[PodWatcher]:
    thread = watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop(timeout=10)
        assert not thread.is_alive(), "the watcher did not stop"


def caught_up(kube: FakeKube, watcher: PodWatcher) -> Callable[[], bool]:
    """True once the watcher has seen everything up to the server's current revision.

    Make a change the watcher sees (or send a bookmark) first: a watcher
    only learns of revisions through events and bookmarks.
    """
    target = kube.resource_version
    return lambda: watcher.resource_version is not None and int(watcher.resource_version) >= target


def sync_point(kube: FakeKube, watcher: PodWatcher, timeout: float = 15.0) -> None:
    """Wait until the watcher has processed every change made so far.

    Bookmarks carry the server's revision to the watcher; they are sent again
    and again, since one sent while the watcher is reconnecting reaches no one.
    """
    done = caught_up(kube, watcher)

    def bookmarked() -> bool:
        kube.bookmark()
        return done()

    wait_until(bookmarked, timeout, "the watcher to catch up")


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
                kube.update_pod("chaos", name, lambda p, new=new: restart_container(p, "main", new))

        thread = threading.Thread(target=restarts, daemon=True)
        thread.start()
        start = time.monotonic()
        outage_at = start + self.duration / 2 - self.outage / 2
        outage_done = False
        faults = ["drop", "expire", "compact-drop", "drop", "bookmark"]
        try:
            while time.monotonic() - start < self.duration:
                time.sleep(rnd.uniform(*self.fault_gap))
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
