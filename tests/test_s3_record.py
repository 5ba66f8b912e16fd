"""`traceloop record --sink s3://...`: the upload, or a bounded wait and the spooled dump named."""

from __future__ import annotations

from pathlib import Path

import pytest
from s3util import Moto, free_port, run_cli

from sidecar.dump.reader import DumpReader

pytestmark = pytest.mark.bpf


def test_record_uploads_the_dump(moto: Moto, tmp_path: Path) -> None:
    bucket = moto.bucket()
    spool = tmp_path / "spool"
    r = run_cli(
        "record", "--sink", f"s3://{bucket}/ci", "--spool", str(spool), "--", "sh", "-c", "exit 3",
        env=moto.env(), timeout=120,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    [key] = moto.keys(bucket)
    assert key.startswith("ci/_/_/_/sh/") and "-nonzero-exit-" in key
    assert f"dump written to s3://{bucket}/{key}" in r.stderr
    assert [p for p in spool.rglob("*.msgpack*")] == []
    meta = moto.client().head_object(Bucket=bucket, Key=key)["Metadata"]
    assert meta["reason"] == "nonzero-exit" and meta["container"] == "sh"


def test_record_leaves_the_dump_in_the_spool_when_the_store_is_down(
    moto: Moto, tmp_path: Path
) -> None:
    bucket = moto.bucket()
    spool = tmp_path / "spool"
    down = moto.env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # nobody listens
    r = run_cli(
        "record", "--sink", f"s3://{bucket}/ci", "--spool", str(spool), "--upload-timeout", "1",
        "--", "sh", "-c", "exit 5",
        env=down, timeout=120,
    )  # fmt: skip
    assert r.returncode == 5  # the command's status, whatever happened to the upload
    [spooled] = spool.rglob("*.msgpack")
    assert "did not finish within 1s" in r.stderr
    assert f"stays in {spooled}" in r.stderr
    assert f"dump written to {spooled}" in r.stderr
    with DumpReader(spooled) as d:
        assert d.header["container"]["exit_status"] == 5
    assert moto.keys(bucket) == []

    # The next run that dumps to the same sink and spool sends the leftover too.
    r = run_cli(
        "record", "--sink", f"s3://{bucket}/ci", "--spool", str(spool), "--", "sh", "-c", "exit 6",
        env=moto.env(), timeout=120,
    )  # fmt: skip
    assert r.returncode == 6, r.stderr
    assert len(moto.keys(bucket)) == 2
    assert list(spool.rglob("*.msgpack")) == []
