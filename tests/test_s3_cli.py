"""`traceloop ls`, `fetch` and `show s3://` as a user runs them, against moto's server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from s3util import TRACELOOP, Moto, dump_bytes, dump_writer, name, run_cli, use_dummy_aws_env
from showutil import CONTROL

from sidecar.sinks.s3._sink import make_s3_sink


@pytest.fixture(scope="module")
def stored(moto: Moto, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[int, str]]:
    """A bucket with three dumps, by crash number (1 crashed first, 3 last), uploaded
    one at a time in the order 3, 1, 2: the newest crash is the oldest object."""
    with pytest.MonkeyPatch.context() as mp:
        use_dummy_aws_env(mp)
        bucket = moto.bucket()
        sink = make_s3_sink(
            f"s3://{bucket}/prod",
            endpoint_url=moto.endpoint,
            spool=str(tmp_path_factory.mktemp("spool")),
        )
        dumps = {
            3: (
                name(
                    3,
                    reason="fatal-signal",
                    namespace="shop",
                    pod="web-2",
                    container="web",
                    node="n1",
                ),
                dump_writer(30),
            ),
            1: (name(1, reason="nonzero-exit", node="n1"), dump_writer(10)),
            2: (
                name(
                    2,
                    reason="oom-kill",
                    namespace="shop",
                    pod="cart-1",
                    container="cart",
                    node="n2",
                ),
                dump_writer(20),
            ),
        }
        urls: dict[int, str] = {}
        for crash, (n, writer) in dumps.items():
            urls[crash] = sink.store(n, writer)
            assert sink.uploader.drain(30)  # uploaded before the next one is stored
        sink.close(timeout=30)
        assert not sink.unsent()
    return bucket, urls


def test_ls_newest_first_with_reason_node_pod_size(
    moto: Moto, stored: tuple[str, dict[int, str]]
) -> None:
    bucket, urls = stored
    r = run_cli("ls", f"s3://{bucket}/prod", env=moto.env())
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TIME", "REASON", "NODE", "POD", "CONTAINER", "SIZE", "URL"]
    rows = [line.split() for line in lines[1:]]
    # Newest crash first: dump 3, 2, 1 (by crash time, not upload order).
    assert [row[-1] for row in rows] == [urls[3], urls[2], urls[1]]
    assert rows[0][1:5] == ["fatal-signal", "n1", "shop/web-2", "web"]
    assert rows[2][1:5] == ["nonzero-exit", "n1", "-", "app"]
    assert rows[1][5].endswith(("B", "K"))


def test_ls_limit_keeps_the_newest_crashes(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    # The newest crash was uploaded first: a limit applied in upload order
    # (before sorting by crash time) would leave it out.
    bucket, urls = stored
    r = run_cli("ls", "--json", "-n", "2", f"s3://{bucket}", env=moto.env())
    assert r.returncode == 0, r.stderr
    items = [json.loads(line) for line in r.stdout.splitlines()]
    assert [i["url"] for i in items] == [urls[3], urls[2]]
    assert [i["reason"] for i in items] == ["fatal-signal", "oom-kill"]
    for i in items:
        assert i["size"] > 0 and i["time"].startswith("2026-11-25T10:00:0")
    r = run_cli("ls", "-n", "1", f"s3://{bucket}/prod", env=moto.env())
    assert r.returncode == 0, r.stderr
    assert [line.split()[-1] for line in r.stdout.splitlines()[1:]] == [urls[3]]


def test_ls_with_explicit_endpoint_flag(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    bucket, _ = stored
    env = moto.env()
    env.pop("AWS_ENDPOINT_URL")
    r = run_cli(
        "ls", "--s3-endpoint-url", moto.endpoint, "--s3-path-style", f"s3://{bucket}", env=env
    )
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 4


def test_ls_empty_prefix_and_errors(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    bucket, _ = stored
    r = run_cli("ls", f"s3://{bucket}/nothing-here", env=moto.env())
    assert (r.returncode, r.stdout) == (0, "")
    assert "no dumps under" in r.stderr
    r = run_cli("ls", "s3://no-such-bucket-here", env=moto.env())
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("ls", "s3://My_Bucket/prod", env=moto.env())
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "'My_Bucket' is not a valid bucket name" in r.stderr


def test_fetch_to_a_directory_then_refuses_to_overwrite(
    moto: Moto, stored: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    _, urls = stored
    r = run_cli("fetch", urls[3], "-o", str(tmp_path), env=moto.env())
    assert r.returncode == 0, r.stderr
    out = tmp_path / urls[3].rsplit("/", 1)[1]
    assert out.read_bytes() == dump_bytes(30)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert "fetched" in r.stderr
    r = run_cli("fetch", urls[3], "-o", str(out), env=moto.env())
    assert r.returncode == 2 and "exists" in r.stderr
    r = run_cli("fetch", "--force", urls[3], "-o", str(out), env=moto.env())
    assert r.returncode == 0


def test_fetch_to_stdout(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    _, urls = stored
    r = subprocess.run(
        [TRACELOOP, "fetch", urls[1], "-o", "-"], env=moto.env(), capture_output=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == dump_bytes(10)


def test_fetch_missing_object_is_one_line(
    moto: Moto, stored: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    bucket, _ = stored
    r = run_cli(
        "fetch", f"s3://{bucket}/prod/nope.msgpack", "-o", str(tmp_path / "x"), env=moto.env()
    )
    assert r.returncode == 1
    assert "no such object" in r.stderr and r.stderr.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_fetch_refuses_data_that_does_not_match_its_checksum(
    moto: Moto, stored: tuple[str, dict[int, str]], tmp_path: Path
) -> None:
    bucket, urls = stored
    key = urls[2].removeprefix(f"s3://{bucket}/")
    c = moto.client()
    meta = c.head_object(Bucket=bucket, Key=key)["Metadata"]
    # Another dump's bytes under this one's metadata, in a bucket of its own
    # (so the listings above never see it).
    tampered = moto.bucket()
    c.put_object(Bucket=tampered, Key=key, Body=dump_bytes(3), Metadata=meta)
    r = run_cli("fetch", f"s3://{tampered}/{key}", "-o", str(tmp_path / "t"), env=moto.env())
    assert r.returncode == 1 and "does not match" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_show_reads_s3_directly(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    _, urls = stored
    r = run_cli("show", urls[3], env=moto.env())
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) >= 30


def test_show_missing_object_is_one_line(moto: Moto, stored: tuple[str, dict[int, str]]) -> None:
    bucket, _ = stored
    r = run_cli("show", f"s3://{bucket}/prod/none.msgpack", env=moto.env())
    assert r.returncode == 2
    assert "no such object" in r.stderr and "Traceback" not in r.stderr


def test_ls_escapes_hostile_metadata_and_keys_and_sorts_a_bad_time_last(
    moto: Moto, stored: tuple[str, dict[int, str]]
) -> None:
    """Whoever can write to the bucket controls keys and metadata: `ls` shows
    them escaped, and a `time` that is not a time does not list first."""
    bucket = moto.bucket()
    c = moto.client()
    evil = "%1B%5B2J%1B%5D0%3Bpwned%07%0D%C2%9B%7F"  # ESC [2J ESC ]0;pwned BEL CR CSI DEL
    c.put_object(
        Bucket=bucket,
        Key="prod/x\x1b[31mkey\r.msgpack",
        Body=dump_bytes(2),
        Metadata={"time": "9999" + evil, "reason": evil, "node": evil, "namespace": evil,
                  "pod": evil, "container": evil},
    )  # fmt: skip
    c.put_object(
        Bucket=bucket,
        Key="prod/real.msgpack",
        Body=dump_bytes(2),
        Metadata={"time": "2026-11-25T10:00:03.000Z", "reason": "oom-kill"},
    )
    for args in (["ls"], ["ls", "--json"]):
        r = subprocess.run(
            [TRACELOOP, *args, f"s3://{bucket}/prod"], env=moto.env(), capture_output=True,
            timeout=60,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert not CONTROL.search(r.stdout), r.stdout
        lines = r.stdout.decode().splitlines()
        if args == ["ls"]:
            assert lines[1].endswith("/prod/real.msgpack")  # the real time first
            assert "\\33[2J\\33]0;pwned\\7\\r\\302\\233\\177" in lines[2]
        else:
            items = [json.loads(line) for line in lines]
            assert items[0]["url"].endswith("/prod/real.msgpack")
            assert items[1]["container"] == "\x1b[2J\x1b]0;pwned\x07\r\x9b\x7f"
