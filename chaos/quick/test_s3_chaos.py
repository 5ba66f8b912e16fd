"""S3 fault injection, quick variants (run by `make test`).

Against moto's real HTTP server on loopback, through a proxy that refuses,
fails, resets or stalls requests: every dump arrives exactly once, and the
spool is empty afterwards; failures are told once and counted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from s3proxy import FlakyProxy, forward_all
from s3util import DUMMY_ENV, ROOT, Moto, dump_writer, metric, moto_subprocess, name
from waits import wait_until

from sidecar.sinks.s3._sink import S3Sink, make_s3_sink

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("aws_env")]
CHILD = str(ROOT / "tests" / "s3child.py")


def spooled(spool: Path) -> list[Path]:
    return sorted(p for p in spool.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def assert_each_once(m: Moto, bucket: str, urls: list[str]) -> None:
    """Exactly these objects, each holding what its metadata's sha256 says."""
    keys = m.keys(bucket)
    assert keys == sorted(u.removeprefix(f"s3://{bucket}/") for u in urls)
    c = m.client()
    for k in keys:
        obj = c.get_object(Bucket=bucket, Key=k)
        assert hashlib.sha256(obj["Body"].read()).hexdigest() == obj["Metadata"]["sha256"]


def sink(url: str, endpoint: str, spool: Path, **kw: object) -> S3Sink:
    opts: dict[str, object] = {
        "endpoint_url": endpoint,
        "spool": str(spool),
        "retry_initial": 0.05,
        "retry_max_wait": 0.5,
        "timeout": 2.0,
    }
    opts.update(kw)
    return make_s3_sink(url, **opts)


def test_store_down_when_the_dump_is_written_then_back(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    proxy = FlakyProxy(moto.upstream)
    proxy.down()
    conn_errors = metric("traceloop_s3_errors_total", kind="connection")
    s = sink(f"s3://{bucket}", proxy.endpoint, tmp_path)
    try:
        url = s.store(name(1), dump_writer(200))
        # The outage lasts until the uploader has been refused a few times.
        wait_until(
            lambda: metric("traceloop_s3_errors_total", kind="connection") >= conn_errors + 3,
            what="refused connections",
        )
        assert moto.keys(bucket) == []
        assert len(s.spool.entries()) == 1
        proxy.up()
        assert s.uploader.drain(60)
    finally:
        s.close(timeout=0)
        proxy.close()
    assert_each_once(moto, bucket, [url])
    assert spooled(tmp_path) == []


def test_every_other_request_fails_every_dump_arrives_once(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    faults = ("503", "reset", "slow")

    def plan(n: int, method: str, path: str) -> str:
        return faults[(n // 2) % 3] if n % 2 else "forward"

    proxy = FlakyProxy(moto.upstream, plan=plan, slow_seconds=1.5)
    # Client timeout 1 s < 1.5 s: a slow request times out, then reaches the store anyway.
    s = sink(
        f"s3://{bucket}", proxy.endpoint, tmp_path, timeout=1.0,
        multipart_threshold=5 << 20, multipart_chunksize=5 << 20,
    )  # fmt: skip
    try:
        urls = [s.store(name(i), dump_writer(100)) for i in range(5)]
        urls.append(s.store(name(9), dump_writer(150, pad=40 << 10)))  # ~6 MiB: two parts
        assert s.uploader.drain(120)
    finally:
        s.close(timeout=0)
        proxy.close()
    assert_each_once(moto, bucket, urls)
    assert spooled(tmp_path) == []
    actions = {r.action for r in proxy.requests()}
    assert {"503", "reset", "slow", "forward"} <= actions
    assert any("partNumber=2" in r.path and r.action == "forward" for r in proxy.requests())


def _child(
    url: str, endpoint: str, spool: Path, *extra: str, env: dict[str, str]
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, url, endpoint, str(spool), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_sigkill_in_the_middle_of_a_multipart_upload(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    # Part 2 never gets an answer: the process is killed while sending the dump.
    proxy = FlakyProxy(
        moto.upstream,
        plan=lambda n, method, path: "hold" if "partNumber=2" in path else "forward",
    )
    env = {**os.environ, **DUMMY_ENV}
    try:
        child = _child(
            f"s3://{bucket}/k", proxy.endpoint, tmp_path, "--store", "1", "--records", "300",
            "--pad", str(40 << 10), "--threshold", str(5 << 20), "--timeout", "60",
            env=env,
        )  # fmt: skip
        assert proxy.holding.wait(60), child.communicate(timeout=5)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        proxy.release()
        assert moto.keys(bucket) == []  # the multipart upload was never completed
        (meta,) = tmp_path.rglob("*.json")
        sha = json.loads(meta.read_text())["sha256"]

        proxy.plan = forward_all
        again = _child(f"s3://{bucket}/k", proxy.endpoint, tmp_path, "--wait", "60", env=env)
        out, err = again.communicate(timeout=90)
        assert out.splitlines()[-1] == "drained", err
    finally:
        proxy.close()
    [key] = moto.keys(bucket)
    body = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha
    assert spooled(tmp_path) == []


def test_sigkill_after_the_upload_before_the_delete(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    state = {"put": False}

    def plan(n: int, method: str, path: str) -> str:
        if method == "PUT":
            state["put"] = True
        # The HEAD confirming the PUT hangs: the object is stored, the spool not yet cleared.
        return "hold" if method == "HEAD" and state["put"] else "forward"

    proxy = FlakyProxy(moto.upstream, plan=plan)
    env = {**os.environ, **DUMMY_ENV}
    try:
        child = _child(
            f"s3://{bucket}", proxy.endpoint, tmp_path, "--store", "1", "--timeout", "60", env=env
        )
        assert proxy.holding.wait(60), child.communicate(timeout=5)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        proxy.release()
        assert len(moto.keys(bucket)) == 1
        assert len(list(tmp_path.rglob("*.msgpack"))) == 1  # still spooled

        puts_before = len(proxy.requests("PUT"))
        proxy.plan = forward_all
        again = _child(f"s3://{bucket}", proxy.endpoint, tmp_path, "--wait", "60", env=env)
        out, err = again.communicate(timeout=90)
        assert out.splitlines()[-1] == "drained", err
        assert len(proxy.requests("PUT")) == puts_before  # recognised, not sent again
    finally:
        proxy.close()
    assert len(moto.keys(bucket)) == 1
    assert spooled(tmp_path) == []


def wait_failed_passes(total: float) -> None:
    """Until the uploader has failed that many passes over the spool: each one
    would have logged its error again, were errors told per attempt."""
    wait_until(
        lambda: metric("traceloop_s3_uploads_total", result="failed") >= total,
        what=f"{total:.0f} failed upload passes",
    )


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("traceloop")
    ]


def test_wrong_credentials_one_clear_error_dump_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto checks credentials once its first 4 requests (the set-up below) are done.
    with moto_subprocess(INITIAL_NO_AUTH_ACTION_COUNT="4") as m:
        bucket = m.bucket()
        iam = m.iam()
        iam.create_user(UserName="dumper")
        iam.put_user_policy(
            UserName="dumper",
            PolicyName="s3",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="dumper")["AccessKey"]
        m.key, m.secret = key["AccessKeyId"], key["SecretAccessKey"]  # for the checks below
        creds = metric("traceloop_s3_errors_total", kind="credentials")

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
        s = sink(f"s3://{bucket}/p", m.endpoint, tmp_path)
        msg = s.check()
        assert msg is not None and "access key id" in msg
        assert metric("traceloop_s3_store_up", sink=f"s3://{bucket}/p") == 0
        failed = metric("traceloop_s3_uploads_total", result="failed")
        url = s.store(name(1), dump_writer(20))
        wait_failed_passes(failed + 3)
        s.close(timeout=0)
        assert len(s.spool.entries()) == 1
        assert metric("traceloop_s3_errors_total", kind="credentials") > creds + 1
        errors = _errors(caplog)
        assert len(errors) == 1 and "access key id" in errors[0], errors

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        fixed = sink(f"s3://{bucket}/p", m.endpoint, tmp_path)
        try:
            assert fixed.check() is None
            assert fixed.uploader.drain(30)
        finally:
            fixed.close(timeout=0)
        assert m.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
        assert spooled(tmp_path) == []


def test_missing_bucket_one_clear_error_dump_kept(
    moto: Moto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = f"not-yet-{os.getpid()}"
    s = sink(f"s3://{bucket}", moto.endpoint, tmp_path)
    msg = s.check()
    assert msg is not None and "does not exist" in msg
    failed = metric("traceloop_s3_uploads_total", result="failed")
    url = s.store(name(1), dump_writer(20))
    wait_failed_passes(failed + 3)
    s.close(timeout=0)
    assert len(s.spool.entries()) == 1
    errors = _errors(caplog)
    assert len(errors) == 1 and "does not exist" in errors[0], errors

    moto.client().create_bucket(Bucket=bucket)
    again = sink(f"s3://{bucket}", moto.endpoint, tmp_path)
    try:
        assert again.uploader.drain(30)
    finally:
        again.close(timeout=0)
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
