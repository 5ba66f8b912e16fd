"""The sink registry: a sink from a `--sink` URL."""

from __future__ import annotations

from pathlib import Path

from sidecar.model.errors import UsageError
from sidecar.sinks.base import Sink
from sidecar.sinks.local import LocalSink


def check_sink(url: str, **options: object) -> None:
    """What `make_sink` would refuse, without making the sink (no client, no
    spool, no import of boto3): `record` checks its --sink before it runs the
    command, not when the command has failed and the dump is due."""
    if url.startswith("s3://"):
        from sidecar.sinks.s3 import S3Options, parse_s3_url

        parse_s3_url(url, what="--sink")
        S3Options.from_kwargs(dict(options))
        return
    _local_path(url)


def _local_path(url: str) -> Path:
    if url.startswith("file://"):
        url = url[len("file://") :]
    elif "://" in url:
        raise UsageError(f"--sink {url}: unknown kind (use a directory, file:// or s3://)")
    if not url:
        raise UsageError("--sink: empty path")
    return Path(url)


def make_sink(url: str, **options: object) -> Sink:
    """A sink from `--sink`: a directory, `file://DIR` or `s3://BUCKET/PREFIX`."""
    if url.startswith("s3://"):
        # Imported here: boto3 is slow to import and local sinks do not need it.
        from sidecar.sinks.s3 import make_s3_sink

        return make_s3_sink(url, **options)
    return LocalSink(_local_path(url))
