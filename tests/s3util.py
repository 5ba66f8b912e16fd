"""Helpers for the S3 tests: moto's real HTTP server on loopback, test dumps.

moto keeps its state in process memory, shared by every server started in the
process, so each test uses its own bucket.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3
import pytest
from prometheus_client import REGISTRY

from sidecar.dump.naming import DumpName
from sidecar.dump.writer import write_dump

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ROOT = Path(__file__).resolve().parent.parent
TRACELOOP = str(ROOT / ".venv" / "bin" / "traceloop")
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def use_dummy_aws_env(mp: pytest.MonkeyPatch) -> None:
    """The credentials moto accepts, and no AWS_* setting from outside the test."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            mp.delenv(k)
    for k, v in DUMMY_ENV.items():
        mp.setenv(k, v)


def metric(name: str, **labels: str) -> float:
    """A sample from this process's Prometheus registry (0 if it was never set)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Moto:
    endpoint: str
    key: str = "testing"
    secret: str = "testing"

    @property
    def upstream(self) -> tuple[str, int]:
        """Where a proxy in front of this server forwards to."""
        return ("127.0.0.1", int(self.endpoint.rsplit(":", 1)[1]))

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )

    def iam(self) -> Any:  # no type stubs for IAM are installed
        return boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.key,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        )

    def bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        out: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(out)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a `traceloop` subprocess talking to this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(DUMMY_ENV)
        env["AWS_ENDPOINT_URL"] = self.endpoint
        env.update(extra)
        return env


@contextlib.contextmanager
def moto_server() -> Iterator[Moto]:
    """moto's server in this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Moto(f"http://{host}:{port}")
    finally:
        server.stop()


@contextlib.contextmanager
def moto_subprocess(**env: str) -> Iterator[Moto]:
    """moto's server as its own process (for settings read at its start, like auth)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start")
            time.sleep(0.05)
        yield Moto(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(10)


def header(container: str = "app", reason: str = "nonzero-exit") -> dict[str, Any]:
    return {
        "created": "2026-11-25T10:00:00.000Z",
        "created_ns": 1_795_000_000_000_000_000,
        "boot_offset_ns": 0,
        "triggers": [{"reason": reason, "source": "kernel", "ts_ns": 0, "time": ""}],
        "container": {"name": container, "cgroup_id": 1, "cgroup_path": "/x"},
        "pod": None,
        "host": {"hostname": "h", "node": "n", "kernel": "6.1", "arch": "x86_64"},
        "recorder": {},
        "counts": {"recorded": 0},
        "window": None,
        "syscalls": {0: ["read", [["fd", "unsigned int"]]]},
        "captures": {},
    }


def records(n: int, pad: int = 0) -> list[list[Any]]:
    """`n` records; `pad` bytes of captured data each (random, so zstd cannot shrink it)."""
    return [
        [
            i,
            1000 + i,
            10,
            0,
            42,
            42,
            "app",
            0,
            [3, 0, 64, 0, 0, 0],
            64,
            [[1, 3, os.urandom(pad), pad]],
        ]
        if pad
        else [i, 1000 + i, 10, 0, 42, 42, "app", 0, [3, 0, 64, 0, 0, 0], 64, []]
        for i in range(n)
    ]


def dump_writer(n: int = 10, pad: int = 0, container: str = "app") -> Any:
    recs = records(n, pad)
    h = header(container)

    def write(f: IO[bytes]) -> None:
        write_dump(f, h, recs)

    return write


def dump_bytes(n: int = 10, pad: int = 0) -> bytes:
    buf = io.BytesIO()
    dump_writer(n, pad)(buf)
    return buf.getvalue()


def name(i: int = 1, **kw: str) -> DumpName:
    parts: dict[str, str] = {
        "time": f"2026-11-25T10:00:{i % 60:02d}.000Z",
        "reason": "nonzero-exit",
        "id": f"dump{i}",
        "container": "app",
    }
    parts.update(kw)
    return DumpName(**parts)


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACELOOP, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def python_cmd() -> list[str]:
    return [sys.executable]
