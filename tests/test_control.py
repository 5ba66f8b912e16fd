"""The daemon's control socket (sidecar/daemon/control.py) over real Unix sockets:
what it refuses to replace, what it leaves alone, and how it bounds its clients."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.daemon.control import ControlServer, request
from sidecar.model.errors import UsageError


def echo(req: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "dumps": [str(req.get("container"))]}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ControlServer]:
    s = ControlServer(str(tmp_path / "run" / "control.sock"), echo)
    yield s
    s.close()


def ask(path: str, container: str = "web") -> dict[str, Any]:
    return request(path, {"cmd": "dump", "container": container}, timeout=5)


def test_a_missing_directory_is_made_private(server: ControlServer) -> None:
    d = Path(server.path).parent
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert ask(server.path) == {"ok": True, "dumps": ["web"]}


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o1777)  # like /tmp
    s = ControlServer(str(shared / "x.sock"), echo)
    try:
        assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    finally:
        s.close()
    assert not (shared / "x.sock").exists()


def test_a_live_socket_is_never_replaced(server: ControlServer) -> None:
    with pytest.raises(UsageError, match="another daemon is listening"):
        ControlServer(server.path, echo)
    assert ask(server.path) == {"ok": True, "dumps": ["web"]}  # the first one still answers


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays, nobody listens: a daemon that was killed
    s = ControlServer(path, echo)
    try:
        assert ask(path) == {"ok": True, "dumps": ["web"]}
    finally:
        s.close()


def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "precious"
    path.write_text("data")
    with pytest.raises(UsageError, match="not a socket"):
        ControlServer(str(path), echo)
    assert path.read_text() == "data"


def test_close_removes_only_its_own_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "c.sock")
    s = ControlServer(path, echo)
    os.unlink(path)
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(path)  # someone else's socket at the same path now
    try:
        s.close()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    finally:
        other.close()


def test_bad_requests_get_an_answer_and_the_server_goes_on(server: ControlServer) -> None:
    # Nesting far deeper than the parser allows, in less than MAX_REQUEST bytes.
    for raw in (b"[" * 30_000 + b"]" * 30_000, b"not json", b"[1]", b'{"cmd": ["dump"]}'):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(5)
            c.connect(server.path)
            c.sendall(raw)
            c.shutdown(socket.SHUT_WR)
            answer = c.makefile("rb").read()
        assert b'"ok": false' in answer and b"bad request" in answer, answer[:200]
    assert ask(server.path)["ok"]


def test_idle_clients_are_bounded_and_timed_out(tmp_path: Path) -> None:
    path = str(tmp_path / "b.sock")
    s = ControlServer(path, echo, read_timeout=0.5, max_connections=4)
    idle = []
    try:
        before = threading.active_count()
        for _ in range(50):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            idle.append(c)  # connected, sends nothing
        time.sleep(0.2)
        assert threading.active_count() - before <= 4
        time.sleep(0.6)  # past the read timeout: the slots are free again
        assert ask(path) == {"ok": True, "dumps": ["web"]}
    finally:
        for c in idle:
            c.close()
        s.close()
