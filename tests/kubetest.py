"""Helpers for tests that run the real kubernetes client against tests/kube_server.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kube_server import FakeKube

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
