"""The S3 sink against moto's real HTTP server on loopback.

Upload, key template, metadata, content type, multipart, compression, spool
recovery after a restart, the spool cap policies, the retry schedule (with an
injected sleep), the start-up check and the metrics.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from s3proxy import FlakyProxy
from s3util import Moto, dump_bytes, dump_writer, metric, name
from waits import wait_until

from sidecar.cli.sources import open_dump
from sidecar.dump.records import ZSTD_MAGIC
from sidecar.model.errors import SinkError
from sidecar.sinks.registry import make_sink
from sidecar.sinks.s3._sink import S3Sink, make_s3_sink, settle
from sidecar.sinks.s3._spool import INCOMING, Entry

pytestmark = pytest.mark.usefixtures("aws_env")
FAST = {"retry_initial": 0.02, "retry_max_wait": 0.1, "retry_attempts": 3, "timeout": 5.0}


@pytest.fixture
def bucket(moto: Moto) -> str:
    return moto.bucket()


@pytest.fixture
def sinks() -> Iterator[Callable[..., S3Sink]]:
    """Makes sinks and closes them all at the end (their threads stop)."""
    made: list[S3Sink] = []

    def make(url: str, endpoint: str, spool: Path, **kw: Any) -> S3Sink:
        s = make_s3_sink(url, endpoint_url=endpoint, spool=str(spool), **{**FAST, **kw})
        made.append(s)
        return s

    yield make
    for s in made:
        s.close(timeout=0)


def spool_files(spool: Path) -> list[str]:
    return sorted(p.name for p in spool.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def test_upload_key_metadata_and_content(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    ok_before = metric("traceloop_s3_uploads_total", result="ok")
    s = sinks(f"s3://{bucket}/dumps", moto.endpoint, tmp_path)
    n = name(7, namespace="shop", pod="web-1", container="web", cluster="eu", node="node-3")
    url = s.store(n, dump_writer(50))
    assert (
        url
        == f"s3://{bucket}/dumps/eu/shop/web-1/web/20261125T100007.000Z-nonzero-exit-dump7.msgpack"
    )
    s.close(timeout=30)
    key = url.removeprefix(f"s3://{bucket}/")
    assert moto.keys(bucket) == [key]
    obj = moto.client().get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    assert body == dump_bytes(50)
    assert obj["ContentType"] == "application/vnd.msgpack"
    meta = obj["Metadata"]
    assert (meta["reason"], meta["node"], meta["container"]) == ("nonzero-exit", "node-3", "web")
    assert (meta["namespace"], meta["pod"], meta["cluster"]) == ("shop", "web-1", "eu")
    assert meta["sha256"] == hashlib.sha256(body).hexdigest()
    assert spool_files(tmp_path) == []
    assert metric("traceloop_s3_uploads_total", result="ok") == ok_before + 1


def test_show_reads_the_object_through_open_dump(
    moto: Moto,
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path)
    url = s.store(name(1), dump_writer(20))
    s.close(timeout=30)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)  # show has no flags: the env
    with open_dump(url) as r:
        assert r.header["container"]["name"] == "app"
        assert len(list(r)) == 20
        assert r.footer == {"footer": True, "records": 20}


def test_custom_template_and_local_fillers(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    s = sinks(
        f"s3://{bucket}/ci/",
        moto.endpoint,
        tmp_path,
        key_template="{date}/{node}/{reason}-{id}.msgpack",
    )
    url = s.store(name(3), dump_writer(5))
    s.close(timeout=30)
    assert moto.keys(bucket) == ["ci/2026-11-25/_/nonzero-exit-dump3.msgpack"]
    assert url.endswith("ci/2026-11-25/_/nonzero-exit-dump3.msgpack")


def test_multipart_for_a_large_dump(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    # 200 records of 40 KiB random capture: ~8 MiB, two parts of 5 MiB.
    s = sinks(
        f"s3://{bucket}",
        moto.endpoint,
        tmp_path,
        multipart_threshold=1 << 20,
        multipart_chunksize=5 << 20,
    )
    url = s.store(name(1), dump_writer(200, pad=40 << 10))
    s.close(timeout=60)
    key = url.removeprefix(f"s3://{bucket}/")
    h = moto.client().head_object(Bucket=bucket, Key=key)
    assert h["ETag"].strip('"').endswith("-2"), h["ETag"]  # a multipart ETag: md5-of-md5s-PARTS
    body = moto.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert h["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert spool_files(tmp_path) == []


def test_zstd_compression(
    moto: Moto,
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path, compress="zstd")
    url = s.store(name(2), dump_writer(2000))
    s.close(timeout=30)
    assert url.endswith(".msgpack.zst")
    key = url.removeprefix(f"s3://{bucket}/")
    obj = moto.client().get_object(Bucket=bucket, Key=key)
    body = obj["Body"].read()
    assert body[:4] == ZSTD_MAGIC
    assert len(body) < len(dump_bytes(2000)) / 3
    assert obj["ContentType"] == "application/vnd.msgpack"
    assert obj["ContentEncoding"] == "zstd"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.endpoint)
    with open_dump(url) as r:
        assert len(list(r)) == 2000


def test_sse_and_storage_class(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path, sse="AES256", storage_class="STANDARD_IA")
    url = s.store(name(1), dump_writer(5))
    s.close(timeout=30)
    h = moto.client().head_object(Bucket=bucket, Key=url.removeprefix(f"s3://{bucket}/"))
    assert h["ServerSideEncryption"] == "AES256"
    assert h["StorageClass"] == "STANDARD_IA"


def test_path_style_addressing(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    # "localhost" is a name, so botocore would otherwise put the bucket in the host.
    endpoint = moto.endpoint.replace("127.0.0.1", "localhost")
    proxy = FlakyProxy(moto.upstream)
    try:
        s = sinks(
            f"s3://{bucket}",
            endpoint.rsplit(":", 1)[0] + f":{proxy.port}",
            tmp_path,
            path_style=True,
        )
        s.store(name(1), dump_writer(5))
        s.close(timeout=30)
        assert all(r.path.startswith(f"/{bucket}") for r in proxy.requests())
        assert len(moto.keys(bucket)) == 1
    finally:
        proxy.close()


def test_several_sinks_share_one_spool(
    moto: Moto, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    b1, b2 = moto.bucket(), moto.bucket()
    s1 = sinks(f"s3://{b1}/x", moto.endpoint, tmp_path)
    s2 = sinks(f"s3://{b2}/x", moto.endpoint, tmp_path)
    assert s1.spool.dir != s2.spool.dir
    s1.store(name(1), dump_writer(5))
    s2.store(name(1), dump_writer(5))
    s1.close(timeout=30)
    s2.close(timeout=30)
    assert len(moto.keys(b1)) == 1 and len(moto.keys(b2)) == 1


def test_concurrent_stores(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path)
    threads = [threading.Thread(target=s.store, args=(name(i), dump_writer(10))) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s.close(timeout=60)
    assert len(moto.keys(bucket)) == 12
    assert spool_files(tmp_path) == []


def test_one_uploader_per_spool_the_other_process_waits(
    moto: Moto,
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A daemon and a `record` with the same sink and spool: one drains it.
    daemon = sinks(f"s3://{bucket}", moto.endpoint, tmp_path, idle_rescan=0.2)
    assert daemon.uploader.drain(10)
    record = sinks(f"s3://{bucket}", moto.endpoint, tmp_path)
    url = record.store(name(1), dump_writer(5))
    assert record.uploader.drain(30)  # sent by the daemon's uploader
    assert record.uploader.passes == 0 and daemon.uploader.passes > 1
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
    assert "drained by another uploader" in caplog.text


def test_make_sink_routes_s3_urls(moto: Moto, bucket: str, tmp_path: Path) -> None:
    s = make_sink(f"s3://{bucket}", endpoint_url=moto.endpoint, spool=str(tmp_path))
    assert isinstance(s, S3Sink), s
    s.close(timeout=0)


# -- the spool across restarts -------------------------------------------------


@pytest.fixture
def down() -> Iterator[FlakyProxy]:
    """An endpoint that refuses connections (a store that is away)."""
    p = FlakyProxy(("127.0.0.1", 9))
    p.down()
    yield p
    p.close()


def test_leftovers_are_sent_on_start(
    moto: Moto,
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    capsys: pytest.CaptureFixture[str],
    down: FlakyProxy,
) -> None:
    first = sinks(f"s3://{bucket}", down.endpoint, tmp_path)
    url = first.store(name(1), dump_writer(30))
    first.close(timeout=0.2)
    left = first.unsent()
    assert [e.url for e in left] == [url]
    # `record` names the spooled file and says so.
    assert settle(first, url) == str(left[0].data_path)
    assert "stays in" in capsys.readouterr().err
    assert moto.keys(bucket) == []

    second = sinks(f"s3://{bucket}", moto.endpoint, tmp_path)  # "after a restart"
    assert second.uploader.drain(30)
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
    assert spool_files(tmp_path) == []
    assert settle(second, url) == url  # not ours to report: stored by the first


def test_recovery_finishes_or_clears_interrupted_writes(
    moto: Moto,
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    caplog: pytest.LogCaptureFixture,
    down: FlakyProxy,
) -> None:
    s = sinks(f"s3://{bucket}", down.endpoint, tmp_path)
    url_a = s.store(name(1), dump_writer(5))
    url_b = s.store(name(2), dump_writer(5))
    s.close(timeout=0)
    d = s.spool.dir
    a, b = sorted(s.spool.entries(), key=lambda e: e.key)
    # a: crash after its JSON, before the final rename -> finished on start.
    os.rename(a.data_path, d / f"{INCOMING}{a.data}")
    # b: JSON gone (crash before it was written) -> never accepted, removed.
    b.meta_path.unlink()
    os.rename(b.data_path, d / f"{INCOMING}{b.data}")
    # A partial write and a JSON whose dump is gone.
    (d / ".tmp-x.part").write_bytes(b"half")
    (d / "ghost.json").write_bytes(
        Entry(d, "ghost", "ghost.msgpack", bucket, "k", 1, "0" * 64, "t", None).to_json()
    )
    caplog.set_level(logging.INFO)
    again = sinks(f"s3://{bucket}", moto.endpoint, tmp_path)
    assert again.uploader.drain(30)
    keys = moto.keys(bucket)
    assert keys == [url_a.removeprefix(f"s3://{bucket}/")]
    assert url_b.removeprefix(f"s3://{bucket}/") not in keys
    assert spool_files(tmp_path) == []
    text = caplog.text
    assert "finished spooling" in text and "before it was accepted" in text and "is gone" in text


def test_resend_after_crash_between_upload_and_delete_makes_no_second_object(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path / "spool")
    # Keep a copy of the spooled entry as it was before the upload: the state a
    # crash right after the PUT (before the delete) leaves behind.
    s.uploader.stop()
    url = s.store(name(1), dump_writer(40))
    (entry,) = s.spool.entries()
    saved = tmp_path / "saved"
    saved.mkdir()
    for p in (entry.data_path, entry.meta_path):
        shutil.copy2(p, saved / p.name)
    s.uploader.start()
    assert s.uploader.drain(30)
    assert len(moto.keys(bucket)) == 1
    s.close(timeout=0)  # the process ends; its spool is put back as the crash left it
    for p in saved.iterdir():
        shutil.copy2(p, entry.dir / p.name)

    proxy = FlakyProxy(moto.upstream)
    try:
        again = sinks(f"s3://{bucket}", proxy.endpoint, tmp_path / "spool")
        assert again.uploader.drain(30)
        assert proxy.requests("PUT") == []  # found by its HEAD: not sent again
        assert [r.method for r in proxy.requests()] == ["HEAD"]
    finally:
        proxy.close()
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]
    assert spool_files(tmp_path / "spool") == []


# -- the cap -----------------------------------------------------------------


def test_spool_full_refuse_keeps_old_dumps_and_counts(
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    caplog: pytest.LogCaptureFixture,
    down: FlakyProxy,
) -> None:
    size = len(dump_bytes(30))
    refused = metric("traceloop_spool_full_total", action="refused")
    s = sinks(
        f"s3://{bucket}",
        down.endpoint,
        tmp_path,
        spool_max_bytes=2 * size + 1000,
        spool_full="refuse",
    )
    first = s.store(name(1), dump_writer(30))
    s.store(name(2), dump_writer(30))
    with pytest.raises(SinkError, match="full"):
        s.store(name(3), dump_writer(30))
    assert metric("traceloop_spool_full_total", action="refused") == refused + 1
    assert "refused dump" in caplog.text
    assert s.spool.entries()[0].url == first
    assert len(s.spool.entries()) == 2
    assert not any(p.name.startswith(INCOMING) for p in s.spool.dir.iterdir())


def test_spool_full_drop_oldest_drops_and_counts(
    bucket: str,
    tmp_path: Path,
    sinks: Callable[..., S3Sink],
    caplog: pytest.LogCaptureFixture,
    down: FlakyProxy,
) -> None:
    size = len(dump_bytes(30))
    dropped = metric("traceloop_spool_full_total", action="dropped")
    s = sinks(
        f"s3://{bucket}",
        down.endpoint,
        tmp_path,
        spool_max_bytes=2 * size + 1000,
        spool_full="drop-oldest",
    )
    urls = [s.store(name(i), dump_writer(30)) for i in range(1, 4)]
    assert [e.url for e in s.spool.entries()] == urls[1:]
    assert metric("traceloop_spool_full_total", action="dropped") == dropped + 1
    assert "dropped the oldest dump" in caplog.text


def test_spool_metrics(
    bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink], down: FlakyProxy
) -> None:
    before = metric("traceloop_spool_bytes")
    dumps = metric("traceloop_spool_dumps")
    s = sinks(f"s3://{bucket}", down.endpoint, tmp_path)
    s.store(name(1), dump_writer(30))
    (e,) = s.spool.entries()
    expected = e.data_path.stat().st_size + e.meta_path.stat().st_size
    assert metric("traceloop_spool_bytes") - before == expected
    assert metric("traceloop_spool_dumps") - dumps == 1
    assert metric("traceloop_spool_oldest_age_seconds") > 0


# -- retries and failures ------------------------------------------------------


def test_retry_schedule_with_injected_sleep(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    sleeps: list[float] = []
    # The first three requests fail with 503: the HEAD before the upload, three times.
    proxy = FlakyProxy(
        moto.upstream,
        plan=lambda n, method, path: "503" if n <= 3 else "forward",
    )
    retries = metric("traceloop_s3_retries_total")
    server_errors = metric("traceloop_s3_errors_total", kind="server")
    try:
        s = sinks(
            f"s3://{bucket}",
            proxy.endpoint,
            tmp_path,
            # botocore must not retry on its own here: every retry is tenacity's.
            request_attempts=1,
            retry_initial=4.0,
            retry_max_wait=10.0,
            retry_attempts=5,
            sleep=sleeps.append,
        )
        s.store(name(1), dump_writer(5))
        assert s.uploader.drain(30)
    finally:
        proxy.close()
    assert [r.action for r in proxy.requests()][:3] == ["503"] * 3
    # Waits in [e/2, e] for e = 4, 8, then 16 capped at 10.
    assert len(sleeps) == 3
    assert 2.0 <= sleeps[0] <= 4.0
    assert 4.0 <= sleeps[1] <= 8.0
    assert 5.0 <= sleeps[2] <= 10.0
    assert metric("traceloop_s3_retries_total") == retries + 3
    assert metric("traceloop_s3_errors_total", kind="server") == server_errors + 3
    assert len(moto.keys(bucket)) == 1


def test_a_put_the_store_did_not_keep_is_not_deleted_from_the_spool(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink]
) -> None:
    # The first PUT is answered 200 but never reaches the store: only the HEAD
    # after it can tell, and the dump must stay spooled and go again.
    state = {"faked": False}

    def plan(n: int, method: str, path: str) -> str:
        if method == "PUT" and not state["faked"]:
            state["faked"] = True
            return "fake200"
        return "forward"

    unconfirmed = metric("traceloop_s3_errors_total", kind="unconfirmed")
    proxy = FlakyProxy(moto.upstream, plan=plan)
    try:
        s = sinks(f"s3://{bucket}", proxy.endpoint, tmp_path)
        url = s.store(name(1), dump_writer(10))
        assert s.uploader.drain(30)
    finally:
        proxy.close()
    assert [r.action for r in proxy.requests("PUT")] == ["fake200", "forward"]
    assert metric("traceloop_s3_errors_total", kind="unconfirmed") == unconfirmed + 1
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]


def test_missing_bucket_is_one_clear_error_and_nothing_is_lost(
    moto: Moto, tmp_path: Path, sinks: Callable[..., S3Sink], caplog: pytest.LogCaptureFixture
) -> None:
    missing = f"missing-{os.getpid()}-{id(tmp_path) % 100000}"
    s = sinks(f"s3://{missing}/p", moto.endpoint, tmp_path)
    msg = s.check()
    assert msg is not None and "bucket does not exist" in msg
    assert metric("traceloop_s3_store_up", sink=f"s3://{missing}/p") == 0
    failed = metric("traceloop_s3_uploads_total", result="failed")
    s.store(name(1), dump_writer(5))
    # Pass after pass over the spool fails; each one would log if errors were
    # told per attempt. The dump cannot go: it stays spooled.
    wait_until(
        lambda: metric("traceloop_s3_uploads_total", result="failed") >= failed + 3,
        what="three failed passes over the spool",
    )
    assert len(s.spool.entries()) == 1
    errors = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and "does not exist" in r.getMessage()
    ]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # one clear error, not one per retry

    moto.client().create_bucket(Bucket=missing)
    assert s.uploader.drain(30)
    assert len(moto.keys(missing)) == 1
    assert metric("traceloop_s3_store_up", sink=f"s3://{missing}/p") == 1
    assert s.check() is None


def test_check_sink_ignores_local_sinks(tmp_path: Path) -> None:
    assert make_sink(str(tmp_path)).check() is None


def test_spool_entry_json_is_self_describing(
    moto: Moto, bucket: str, tmp_path: Path, sinks: Callable[..., S3Sink], down: FlakyProxy
) -> None:
    s = sinks(f"s3://{bucket}", down.endpoint, tmp_path)
    url = s.store(name(1, reason="oom-kill"), dump_writer(5))
    (e,) = s.spool.entries()
    d = json.loads(e.meta_path.read_text())
    assert f"s3://{d['bucket']}/{d['key']}" == url
    assert d["metadata"]["reason"] == "oom-kill"
    assert oct(e.data_path.stat().st_mode & 0o777) == "0o600"


def _plant(d: Path, base: str, data: str, bucket: str, key: str, body: bytes | None) -> None:
    """An entry written by hand into a spool directory, as an intruder would."""
    e = Entry(
        d, base, data, bucket, key, len(body or b""), hashlib.sha256(body or b"").hexdigest(),
        "application/vnd.msgpack", None,
    )  # fmt: skip
    raw = json.loads(e.to_json())
    raw["data"] = data  # whatever the intruder wants, not checked by Entry itself
    (d / f"{base}.json").write_text(json.dumps(raw))


def test_planted_entries_are_refused_and_their_files_left_alone(
    moto: Moto, bucket: str, sinks: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"root-only secret")
    secret.chmod(0o600)
    body = secret.read_bytes()
    s = sinks(f"s3://{bucket}/team", moto.endpoint, tmp_path / "spool")
    d = s.spool.dir
    caplog.set_level(logging.INFO)
    _plant(d, "abs", str(secret), bucket, "team/abs", body)  # an absolute path
    _plant(d, "up", "../../secret", bucket, "team/up", body)  # out of the directory
    (d / "link.msgpack").symlink_to(secret)  # a bare name, but a link to the secret
    _plant(d, "link", "link.msgpack", bucket, "team/link", body)
    (d / "other.msgpack").write_bytes(dump_bytes())  # a real dump, for another bucket
    _plant(d, "other", "other.msgpack", "elsewhere", "team/other", dump_bytes())
    (d / "bad.msgpack").write_bytes(dump_bytes(3))  # its hash does not match its entry
    _plant(d, "bad", "bad.msgpack", bucket, "team/bad", dump_bytes(4))
    ok = metric("traceloop_s3_uploads_total", result="ok")
    url = s.store(name(1), dump_writer(5))  # and one real dump
    # (Not "uploaded" in the log: the warning about link.msgpack says "cannot be uploaded".)
    wait_until(
        lambda: metric("traceloop_s3_uploads_total", result="ok") > ok,
        what="the real dump's upload",
    )
    assert moto.keys(bucket) == [url.removeprefix(f"s3://{bucket}/")]  # only the real dump
    assert secret.read_bytes() == body and secret.stat().st_mode & 0o777 == 0o600
    for planted in ("link.msgpack", "other.msgpack", "bad.msgpack"):
        assert (d / planted).exists(), planted  # refused, never deleted
    text = caplog.text
    assert text.count("refused and left alone") == 5, text
    assert "not a file name" not in text  # the message says what was wrong instead
    assert "for s3://elsewhere/team/other, not for this sink" in text
    assert "does not match its size and sha256" in text


def test_a_spool_directory_writable_by_others_is_refused(
    moto: Moto, bucket: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    with pytest.raises(SinkError, match=r"writable by others \(mode 777\)"):
        make_s3_sink(f"s3://{bucket}", endpoint_url=moto.endpoint, spool=str(spool), **FAST)


def test_a_new_spool_directory_is_private_whatever_the_umask(
    moto: Moto, bucket: str, sinks: Any, tmp_path: Path
) -> None:
    old = os.umask(0)
    try:
        s = sinks(f"s3://{bucket}", moto.endpoint, tmp_path / "new" / "spool")
    finally:
        os.umask(old)
    assert (s.spool.root.stat().st_mode & 0o777) == 0o700
    assert (s.spool.dir.stat().st_mode & 0o777) == 0o700
