"""S3 fault injection, long runs (`make chaos`): a 30 s outage, repeated SIGKILLs.

The quick variants are in chaos/quick/test_s3_chaos.py.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from s3proxy import FlakyProxy
from s3util import DUMMY_ENV, ROOT, Moto, dump_writer, metric, name

from sidecar.sinks.s3._keys import DEFAULT_KEY_TEMPLATE, render_key
from sidecar.sinks.s3._sink import make_s3_sink

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("aws_env")]
CHILD = str(ROOT / "tests" / "s3child.py")


@pytest.mark.timeout(300)
def test_store_down_for_30_seconds(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    proxy = FlakyProxy(moto.upstream)
    proxy.down()
    conn_errors = metric("traceloop_s3_errors_total", kind="connection")
    # The default backoff (0.5 s doubling, capped at 30 s), as a node would run it.
    s = make_s3_sink(f"s3://{bucket}/p", endpoint_url=proxy.endpoint, spool=str(tmp_path))
    try:
        url = s.store(name(1), dump_writer(500))
        time.sleep(30)  # the outage: its length is what this test is about
        assert moto.keys(bucket) == []
        assert len(s.spool.entries()) == 1
        assert metric("traceloop_s3_store_up", sink=f"s3://{bucket}/p") == 0
        assert metric("traceloop_s3_errors_total", kind="connection") > conn_errors
        assert metric("traceloop_spool_oldest_age_seconds") >= 30
        proxy.up()
        assert s.uploader.drain(120)
    finally:
        s.close(timeout=0)
        proxy.close()
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
    assert list(tmp_path.rglob("*.msgpack")) == []
    assert metric("traceloop_s3_store_up", sink=f"s3://{bucket}/p") == 1


@pytest.mark.timeout(600)
def test_repeated_sigkills_lose_nothing_and_send_nothing_twice(moto: Moto, tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    bucket = moto.bucket()
    # Every third request is slowed, so kills land in uploads as often as between them.
    proxy = FlakyProxy(
        moto.upstream, plan=lambda n, m, p: "slow" if n % 3 == 0 else "forward", slow_seconds=0.4
    )
    env = {**os.environ, **DUMMY_ENV}
    url = f"s3://{bucket}/k"
    reported: set[str] = set()
    finished = 0
    try:
        for i in range(12):
            big = i % 3 == 0  # some multipart dumps (3 parts)
            child = subprocess.Popen(
                [
                    sys.executable, CHILD, url, proxy.endpoint, str(tmp_path), "--store", str(i),
                    "--records", "300" if big else "50", "--pad", str(40 << 10) if big else "0",
                    "--threshold", str(5 << 20), "--timeout", "5",
                ],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            time.sleep(rnd.uniform(0.2, 2.5))  # a kill at a random moment is the test
            child.send_signal(signal.SIGKILL)
            out, _ = child.communicate(timeout=30)
            reported.update(
                line.split()[1] for line in out.splitlines() if line.startswith("stored ")
            )
            finished += "drained" in out.splitlines()
        left = len(list(tmp_path.rglob("*.msgpack")))
        print(
            f"seed {seed}: {len(reported)} stored, {finished} finished before the kill, {left} left"
        )
        final = subprocess.run(
            [sys.executable, CHILD, url, proxy.endpoint, str(tmp_path), "--wait", "120"],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert final.stdout.splitlines()[-1] == "drained", (seed, final.stderr[-2000:])
    finally:
        proxy.close()
    keys = moto.keys(bucket)
    possible = {render_key(DEFAULT_KEY_TEMPLATE, "k", name(i), None) for i in range(12)}
    # Each reported dump arrived; nothing else than these dumps; keys are unique by
    # construction, so "once" means no spool file is left to send a second copy.
    assert {u.removeprefix(f"s3://{bucket}/") for u in reported} <= set(keys), seed
    assert set(keys) <= possible, seed
    assert list(tmp_path.rglob("*.msgpack")) == [], seed
    c = moto.client()
    for k in keys:
        obj = c.get_object(Bucket=bucket, Key=k)
        assert hashlib.sha256(obj["Body"].read()).hexdigest() == obj["Metadata"]["sha256"], seed
    assert len(reported) >= 3, (seed, "too few dumps were stored before the kills to mean much")
