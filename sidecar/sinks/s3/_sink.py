"""The S3 sink (`s3://BUCKET/PREFIX`) and reading dumps back from S3.

`store()` writes the dump atomically into the spool and returns the s3:// URL
the dump will have; an uploader thread (sidecar/uploader.py) sends it, confirms
it and only then deletes the spooled copy. A process that starts with dumps
left in its spool sends them first.

For the daemon:
    make_sink(url, **options)   via sidecar.sinks.registry, one per --sink
    sink.check() -> str | None  at start: one clear error, or None
    sink.close()                waits up to --upload-timeout
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sidecar.dump.naming import DumpName
from sidecar.dump.reader import DumpReader
from sidecar.model.errors import DumpFormatError, SinkError
from sidecar.sinks.base import Sink, Writer
from sidecar.sinks.s3 import _metrics as m
from sidecar.sinks.s3._config import ClientOptions, S3Options, make_client
from sidecar.sinks.s3._errors import classify
from sidecar.sinks.s3._keys import (
    CONTENT_TYPE,
    S3Url,
    check_template,
    object_metadata,
    parse_s3_url,
    render_key,
    split_object_url,
    spool_basename,
    spool_dirname,
)
from sidecar.sinks.s3._spool import Entry, Spool
from sidecar.sinks.s3._uploader import RetrySettings, Uploader

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Sink:
    """Spool-then-upload sink. Thread-safe: `store` may run in several threads."""

    def __init__(self, url: S3Url, opts: S3Options, client: S3Client | None = None) -> None:
        from boto3.s3.transfer import TransferConfig

        self.url = url
        self.opts = opts
        self.template = check_template(opts.key_template)
        self.compress = opts.compress if opts.compress == "zstd" else None
        self.client = client or make_client(opts)
        self.spool = Spool(
            Path(opts.spool),
            spool_dirname(url),
            opts.spool_max_bytes,
            opts.spool_full,
            bucket=url.bucket,
            prefix=url.prefix,
        )
        extra: dict[str, str] = {}
        if opts.sse:
            extra["ServerSideEncryption"] = opts.sse
        if opts.sse_kms_key_id:
            extra["SSEKMSKeyId"] = opts.sse_kms_key_id
        if opts.storage_class:
            extra["StorageClass"] = opts.storage_class
        self.uploader = Uploader(
            self.spool,
            self.client,
            str(url),
            extra_args=extra,
            transfer=TransferConfig(
                multipart_threshold=max(1, opts.multipart_threshold),
                multipart_chunksize=max(5 << 20, opts.multipart_chunksize),
                max_concurrency=4,
            ),
            retry=RetrySettings(opts.retry_initial, opts.retry_max_wait, opts.retry_attempts),
            sleep=opts.sleep,
            idle_rescan=opts.idle_rescan,
        )
        self._stored: set[str] = set()
        # Start at once: dumps left by an earlier run go out without waiting
        # for the next crash.
        self.uploader.start()

    def key_for(self, name: DumpName) -> str:
        return render_key(self.template, self.url.prefix, name, self.compress)

    def store(self, name: DumpName, write: Writer) -> str:
        key = self.key_for(name)
        entry = self.spool.put(
            spool_basename(name, key),
            self.url.bucket,
            key,
            write,
            compress=self.compress,
            content_type=CONTENT_TYPE,
            metadata=lambda sha: object_metadata(name, sha),
        )
        self._stored.add(entry.base)
        self.uploader.wake()
        return entry.url

    def check(self) -> str | None:
        """List one key under the prefix: None if that works, else one clear message.

        A GET rather than HeadBucket: its error body names the problem
        (InvalidAccessKeyId, SignatureDoesNotMatch, NoSuchBucket...), a HEAD's
        403 does not. Both need s3:ListBucket.
        """
        try:
            self.client.list_objects_v2(Bucket=self.url.bucket, Prefix=self.url.prefix, MaxKeys=1)
        except Exception as e:
            f = classify(e, str(self.url))
            m.ERRORS.labels(f.kind).inc()
            self.uploader.failed(f)
            return f.message
        m.STORE_UP.labels(str(self.url)).set(1)
        return None

    def unsent(self) -> list[Entry]:
        """Dumps stored through this sink that are still in the spool."""
        return [e for e in self.spool.entries() if e.base in self._stored]

    def close(self, timeout: float | None = None) -> None:
        """Wait up to `timeout` (default --upload-timeout) for the spool to empty, then stop."""
        wait = self.opts.upload_timeout if timeout is None else timeout
        self.uploader.drain(wait)
        # Whatever is in flight now finishes or is abandoned: it stays spooled.
        self.uploader.stop(timeout=1.0)


def make_s3_sink(url: str, **options: Any) -> S3Sink:
    """`make_sink` calls this for s3:// URLs; options are `s3_options_from(args)` keys."""
    return S3Sink(parse_s3_url(url, what="--sink"), S3Options.from_kwargs(options))


def settle(sink: Sink, location: str, out: IO[str] | None = None) -> str:
    """After `close()`: where the dump really is, saying so if it is still spooled.

    `traceloop record` reports the returned location; a dump the store did not
    confirm within --upload-timeout is named by its spool path.
    """
    if not isinstance(sink, S3Sink):
        return location
    left = [e for e in sink.unsent() if e.url == location]
    if not left:
        return location
    e = left[0]
    f = sink.uploader.last_failure
    # The message starts with the object's URL, already named here.
    why = f.message.split(": ", 1)[-1] if f else "not confirmed by the store"
    print(
        f"traceloop: the upload to {location} did not finish within "
        f"{sink.opts.upload_timeout:g}s ({why}); the dump stays in {e.data_path}, sent by "
        f"the next run with this --sink and --spool {sink.opts.spool}",
        file=out or sys.stderr,
    )
    return str(e.data_path)


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so it can be buffered and peeked.

    DumpReader peeks at the first bytes for the zstd magic; network errors in the
    middle of the body become OSError, which it reports as a one-line error.
    """

    def __init__(self, body: Any, name: str) -> None:
        self.body = body
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self.body.read(len(b))
        except Exception as e:
            raise OSError(f"reading {self.name} from S3 failed: {e}") from None
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        try:
            self.body.close()
        finally:
            super().close()


def get_object_stream(client: S3Client, url: str) -> tuple[IO[bytes], int]:
    """A buffered stream of the object at `url` and its size."""
    bucket, key = split_object_url(url)
    try:
        r = client.get_object(Bucket=bucket, Key=key)
    except Exception as e:
        raise SinkError(_read_error(e, url)) from None
    raw = _BodyReader(r["Body"], url)
    return io.BufferedReader(raw, buffer_size=1 << 16), int(r.get("ContentLength", 0))


def _read_error(e: Exception, url: str) -> str:
    code = getattr(e, "response", {}).get("Error", {}).get("Code")
    if code in ("NoSuchKey", "404", "NotFound"):
        return f"{url}: cannot open: no such object"
    return classify(e, url).message


def open_s3_dump(url: str, **client_options: Any) -> DumpReader:
    """`traceloop show s3://BUCKET/KEY`: stream the object, never holding it whole."""
    client = make_client(ClientOptions(**client_options))
    try:
        stream, _ = get_object_stream(client, url)
    except SinkError as e:
        raise DumpFormatError(str(e)) from None
    return DumpReader(stream, url)
