"""S3 sink logic that needs no server: keys, metadata, spool policy, sizes, errors, backoff."""

from __future__ import annotations

import argparse

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from tenacity import RetryCallState, Retrying

from sidecar.cli.s3options import add_s3_options, s3_options_from
from sidecar.dump.naming import DumpName
from sidecar.model.errors import UsageError
from sidecar.sinks.s3._config import S3Options, parse_size
from sidecar.sinks.s3._errors import NotConfirmed, classify
from sidecar.sinks.s3._keys import (
    DEFAULT_KEY_TEMPLATE,
    check_template,
    object_metadata,
    parse_s3_url,
    render_key,
    split_object_url,
    spool_basename,
    spool_dirname,
)
from sidecar.sinks.s3._metrics import ERROR_KINDS
from sidecar.sinks.s3._policy import DROP_OLDEST, REFUSE, Spooled, admit
from sidecar.sinks.s3._uploader import RetrySettings, backoff

K8S = DumpName(
    time="2026-11-25T19:38:01.623Z",
    reason="oom-kill",
    id="c0ffee-1",
    container="web",
    namespace="shop",
    pod="web-7d9f",
    cluster="prod-eu",
    node="node-3",
)
LOCAL = DumpName(time="2026-11-25T19:38:01.623Z", reason="nonzero-exit", id="h-1-2", container="sh")


def test_default_key_for_a_pod() -> None:
    key = render_key(DEFAULT_KEY_TEMPLATE, "dumps", K8S, None)
    assert key == "dumps/prod-eu/shop/web-7d9f/web/20261125T193801.623Z-oom-kill-c0ffee-1.msgpack"


def test_local_run_fills_unknown_parts() -> None:
    key = render_key(DEFAULT_KEY_TEMPLATE, "", LOCAL, None)
    assert key == "_/_/_/sh/20261125T193801.623Z-nonzero-exit-h-1-2.msgpack"


def test_zstd_key_suffix_and_custom_template() -> None:
    key = render_key("{node}/{date}/{id}.msgpack", "p/q", K8S, "zstd")
    assert key == "p/q/node-3/2026-11-25/c0ffee-1.msgpack.zst"


def test_key_parts_cannot_escape_their_level() -> None:
    evil = DumpName(time="t", reason="x", id="../../etc", container="a/b", pod="..")
    key = render_key(DEFAULT_KEY_TEMPLATE, "", evil, None)
    assert ".." not in key.split("/")
    assert key.count("/") == DEFAULT_KEY_TEMPLATE.count("/")


def test_same_dump_same_key_different_dump_different_key() -> None:
    a = render_key(DEFAULT_KEY_TEMPLATE, "", K8S, None)
    assert a == render_key(DEFAULT_KEY_TEMPLATE, "", K8S, None)
    other = DumpName(**{**K8S.__dict__, "id": "c0ffee-2"})
    assert render_key(DEFAULT_KEY_TEMPLATE, "", other, None) != a
    assert spool_basename(K8S, a) != spool_basename(
        other, render_key(DEFAULT_KEY_TEMPLATE, "", other, None)
    )


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("{namespace}/{pod}.msgpack", "must contain {id}"),
        ("{id}/{image}.msgpack", "unknown field"),
        ("/{id}", "must not start"),
        ("{id", "--s3-key-template"),
    ],
)
def test_bad_templates_are_refused(template: str, why: str) -> None:
    with pytest.raises(UsageError, match=why.replace("{", r"\{").replace("}", r"\}")):
        check_template(template)


def test_metadata_is_ascii_and_skips_empty_parts() -> None:
    name = DumpName(time="t", reason="fatal-signal", id="1", container="café", node="n1")
    meta = object_metadata(name, "ab" * 32)
    assert meta["reason"] == "fatal-signal"
    assert meta["node"] == "n1"
    assert meta["container"] == "caf%C3%A9"
    assert meta["sha256"] == "ab" * 32
    assert "pod" not in meta and "cluster" not in meta
    assert all(v.isascii() for v in meta.values())


def test_urls() -> None:
    u = parse_s3_url("s3://my-bucket/a/b/")
    assert (u.bucket, u.prefix, str(u)) == ("my-bucket", "a/b", "s3://my-bucket/a/b")
    assert parse_s3_url("s3://my-bucket").prefix == ""
    assert split_object_url("s3://my-bucket/a/b.msgpack") == ("my-bucket", "a/b.msgpack")
    for bad in ("s3://", "s3:///x", "http://b/x", "s3://UPPER CASE/x"):
        with pytest.raises(UsageError):
            parse_s3_url(bad)
    with pytest.raises(UsageError, match="names no object"):
        split_object_url("s3://my-bucket/dir/")
    assert spool_dirname(parse_s3_url("s3://bkt/a")) != spool_dirname(parse_s3_url("s3://bkt/b"))


@pytest.mark.parametrize(
    "bucket",
    [
        "UPPERCASE",  # lowercase only
        "my_bucket",  # no underscores
        "-bad-",  # starts and ends with a letter or digit
        "bad-",
        ".bad",
        "ab",  # 3 to 63 characters
        "a" * 64,
        "a..b",  # no two dots in a row
        "192.168.5.4",  # not an IP address
        "caf\u00e9",  # ASCII letters only
        "sp ace",
    ],
)
def test_invalid_bucket_names_are_one_clear_error(bucket: str) -> None:
    with pytest.raises(UsageError, match="not a valid bucket name") as e:
        parse_s3_url(f"s3://{bucket}/dumps")
    assert repr(bucket) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "bucket",
    ["abc", "a" * 63, "my-bucket", "my.bucket.v2", "1bucket", "9-9", "192.168.5.4a", "a--b"],
)
def test_valid_bucket_names(bucket: str) -> None:
    assert parse_s3_url(f"s3://{bucket}/dumps").bucket == bucket


def test_sizes() -> None:
    assert parse_size("1000") == 1000
    assert parse_size("64k") == 64 << 10
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("1.5G") == 3 << 29
    assert parse_size(".5k") == 512
    assert parse_size("2KB") == parse_size("2KiB") == parse_size("2k") == 2048
    assert parse_size("10b") == 10
    for bad in ("lots", "10i", "10ib", "k", "", "1..2", "-1", "10 kk"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)


def test_size_option_says_what_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser()
    add_s3_options(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--spool-max-bytes", "10ib"])
    assert "not a size: '10ib'" in capsys.readouterr().err


def S(i: int, size: int) -> Spooled:
    return Spooled(f"d{i}", size, spooled_ns=i)


def test_admit_fits() -> None:
    assert admit([S(1, 10)], 0, 10, 20, REFUSE).accept
    assert admit([S(1, 10)], 0, 10**9, 0, REFUSE).accept  # no cap


def test_admit_refuse_keeps_what_is_spooled() -> None:
    a = admit([S(1, 10), S(2, 10)], 0, 5, 20, REFUSE)
    assert not a.accept and a.drop == () and "full" in a.why


def test_admit_drop_oldest_drops_just_enough_oldest_first() -> None:
    a = admit([S(3, 10), S(1, 10), S(2, 10)], 0, 15, 30, DROP_OLDEST)
    assert a.accept
    assert [d.ident for d in a.drop] == ["d1", "d2"]


def test_admit_never_drops_for_a_dump_that_cannot_fit() -> None:
    a = admit([S(1, 10)], 5, 26, 30, DROP_OLDEST)
    assert not a.accept and a.drop == ()
    assert "larger than" in a.why


def test_options_round_trip_through_argparse() -> None:
    p = argparse.ArgumentParser()
    add_s3_options(p)
    args = p.parse_args(
        [
            "--spool",
            "/s",
            "--spool-max-bytes",
            "2G",
            "--spool-full",
            "drop-oldest",
            "--compress",
            "zstd",
            "--s3-path-style",
            "--s3-sse",
            "AES256",
        ]
    )
    opts = S3Options.from_kwargs(s3_options_from(args))
    assert opts.spool == "/s" and opts.spool_max_bytes == 2 << 30
    assert opts.spool_full == DROP_OLDEST and opts.compress == "zstd"
    assert opts.path_style and opts.sse == "AES256"
    with pytest.raises(TypeError, match="unknown S3 sink option"):
        S3Options.from_kwargs({"spool_dir": "/x"})
    with pytest.raises(UsageError):
        S3Options.from_kwargs({"sse_kms_key_id": "k"})


def client_error(code: str, status: int, op: str = "PutObject") -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {
                "RequestId": "r",
                "HostId": "h",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        op,
    )


@pytest.mark.parametrize(
    ("exc", "kind", "transient", "store_wide"),
    [
        (client_error("InvalidAccessKeyId", 403), "credentials", False, True),
        (client_error("SignatureDoesNotMatch", 403), "credentials", False, True),
        (client_error("AccessDenied", 403), "access-denied", False, True),
        (client_error("NoSuchBucket", 404), "no-bucket", False, True),
        (client_error("404", 404, "HeadBucket"), "no-bucket", False, True),
        (client_error("SlowDown", 503), "server", True, True),
        (client_error("InternalError", 500), "server", True, True),
        (client_error("InvalidStorageClass", 400), "rejected", False, False),
        (EndpointConnectionError(endpoint_url="http://x"), "connection", True, True),
        (ConnectionResetError(), "connection", True, True),
        (TimeoutError(), "connection", True, True),
        (NoCredentialsError(), "credentials", False, True),
        (NotConfirmed("size differs"), "unconfirmed", True, False),
    ],
)
def test_classify(exc: BaseException, kind: str, transient: bool, store_wide: bool) -> None:
    f = classify(exc, "s3://bkt/k")
    assert (f.kind, f.transient, f.store_wide) == (kind, transient, store_wide)
    assert f.message.startswith("s3://bkt/k: ")
    # Its traceloop_s3_errors_total{kind} series exists from the start.
    assert f.kind in ERROR_KINDS


def test_classify_looks_through_wrappers() -> None:
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise client_error("NoSuchBucket", 404)
        except ClientError as e:
            raise S3UploadFailedError("Failed to upload") from e
    except S3UploadFailedError as wrapped:
        assert classify(wrapped, "s3://b").kind == "no-bucket"


def test_backoff_is_exponential_jittered_and_capped() -> None:
    sleeps: list[float] = []
    settings = RetrySettings(initial=1.0, max_wait=8.0, attempts=8)

    def always_fails() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        Retrying(
            wait=backoff(settings),
            stop=lambda s: s.attempt_number >= settings.attempts,
            sleep=sleeps.append,
            reraise=True,
        )(always_fails)
    assert len(sleeps) == settings.attempts - 1
    for n, s in enumerate(sleeps):
        e = min(settings.initial * 2**n, settings.max_wait)
        assert e / 2 <= s <= e, (n, s)
    assert max(sleeps) <= settings.max_wait
    # Jitter: the waits are not all on the lower bound.
    assert len({round(s / min(2**n, 8.0), 6) for n, s in enumerate(sleeps)}) > 1


def test_backoff_state_independent_of_history() -> None:
    # The wait depends on the attempt number only: a schedule restarts per step.
    w = backoff(RetrySettings(initial=2.0, max_wait=100.0))
    state = RetryCallState(Retrying(), None, (), {})
    state.attempt_number = 3
    assert 4.0 <= w(state) <= 8.0
