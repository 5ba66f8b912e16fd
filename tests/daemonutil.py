"""Running `traceloop daemon` as a real process for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.dump.reader import DumpReader

ROOT = Path(__file__).resolve().parent.parent
TRACELOOP = str(ROOT / ".venv" / "bin" / "traceloop")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    sink: Path
    socket: str
    metrics_addr: str
    log: list[str] = field(default_factory=list)

    def dumps(self) -> list[Path]:
        return sorted(p for p in self.sink.rglob("*.msgpack") if p.is_file())

    def wait_dumps(self, n: int, timeout: float = 20.0) -> list[Path]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.dumps()
            if len(found) >= n:
                return found
            assert self.proc.poll() is None, "daemon exited:\n" + "\n".join(self.log[-30:])
            time.sleep(0.1)
        raise AssertionError(
            f"{len(self.dumps())} dumps, wanted {n}:\n" + "\n".join(self.log[-30:])
        )

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://{self.metrics_addr}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics by its key, e.g. `traceloop_dumps_total{result="written"}`."""
        text = self.metrics_text()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def metric(self, key: str) -> float:
        """One sample (0 for a labelled counter never incremented, which /metrics omits)."""
        return self.metrics().get(key, 0.0)

    def wait_counted(self, total: float, *keys: str, timeout: float = 20.0) -> dict[str, float]:
        """Until the samples `keys` add up to `total` or more; returns /metrics then."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if sum(m.get(k, 0.0) for k in keys) >= total:
                return m
            assert self.proc.poll() is None, "daemon exited:\n" + "\n".join(self.log[-30:])
            if time.monotonic() > deadline:
                got = {k: m.get(k, 0.0) for k in keys}
                # The kernel side's counters tell a lost event from a full slab table.
                kernel = {k: v for k, v in m.items() if k.startswith("traceloop_kernel_counter")}
                raise AssertionError(
                    f"{got} never added up to {total} ({kernel}):\n" + "\n".join(self.log[-30:])
                )
            time.sleep(0.1)

    def settled(self) -> None:
        """Returns once the daemon's main loop has finished the step it was in: a
        control request is answered on the main loop (here a manual dump of a
        container that does not exist)."""
        r = subprocess.run(
            [TRACELOOP, "dump", "--socket", self.socket, "no-such-container"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "no recorded container" in r.stderr, r.stderr

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


@contextlib.contextmanager
def daemon(
    cgroup_root: Path,
    sink: Path,
    *extra: str,
    ready_timeout: float = 60,
    env: dict[str, str] | None = None,
) -> Iterator[Daemon]:
    sock = str(sink.parent / f"ctl-{os.getpid()}-{time.monotonic_ns()}.sock")
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [TRACELOOP, "daemon", "--cgroup-root", str(cgroup_root), "--sink", str(sink),
         "--control-socket", sock, "--metrics-addr", addr, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    d = Daemon(proc, sink, sock, addr)
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            d.log.append(line.rstrip())
            if line.strip() == "ready":
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(ready_timeout):
            raise AssertionError("daemon not ready:\n" + "\n".join(d.log))
        yield d
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read(path: Path) -> tuple[dict[str, Any], list[list[Any]]]:
    with DumpReader(path) as r:
        return r.header, list(r)


def wait_logged(d: Daemon, message: str, container: str, timeout: float = 10) -> None:
    """Until the daemon logged `message` about `container` (in its text log format)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(message in line and f"container={container} " in line + " " for line in d.log):
            return
        assert d.proc.poll() is None, "daemon exited:\n" + "\n".join(d.log[-30:])
        time.sleep(0.05)
    raise AssertionError(f"never logged {message!r} for {container}:\n" + "\n".join(d.log[-20:]))


def wait_recorded(d: Daemon, name: str, timeout: float = 10) -> None:
    wait_logged(d, "recording container", name, timeout)
