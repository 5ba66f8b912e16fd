"""The uploader: a thread that drains one sink's spool into S3.

Each dump goes in three steps, each retried by tenacity with capped exponential
backoff and jitter:

1. HEAD the key: if the store already holds this dump (same size, same sha256
   in its metadata) it was sent before a crash; skip to the delete.
2. Upload (s3transfer: one PUT, or multipart above the threshold).
3. HEAD again and compare size and sha256: only then delete the spooled file.

Keys are deterministic, so even when step 1 cannot tell (no permission to
HEAD, or the crash fell between the PUT and its answer) a second upload
overwrites the same object: never two objects for one dump.

When a dump still fails after its retries, the pass ends (if the store as a
whole is failing) and starts again after `retry_max_wait`; the dump stays in
the spool meanwhile. Errors are logged once per kind until uploads work again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random_exponential,
)

from sidecar.sinks.s3 import _metrics as m
from sidecar.sinks.s3._errors import Failure, NotConfirmed, classify
from sidecar.sinks.s3._spool import Entry, Spool, UploaderLock

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("traceloop.s3")
T = TypeVar("T")

# With nothing to do, look at the spool this often anyway: another process
# sharing it (a `traceloop record` next to the daemon) may have added dumps.
IDLE_RESCAN = 5.0


class Stopped(Exception):
    """The uploader is closing; not a failure of the store."""


class UploadFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(frozen=True)
class RetrySettings:
    initial: float = 0.5
    max_wait: float = 30.0
    attempts: int = 6


def backoff(settings: RetrySettings) -> Any:
    """Equal jitter: the n-th wait is uniform in [e/2, e], e = min(initial*2^n, max_wait).

    The random half spreads a fleet of nodes retrying against a store that just
    came back; the fixed half keeps the backoff exponential; the cap holds for
    the sum.
    """
    half_initial, half_max = settings.initial / 2, settings.max_wait / 2
    return wait_exponential(multiplier=half_initial, max=half_max) + wait_random_exponential(
        multiplier=half_initial, max=half_max
    )


class Uploader:
    def __init__(
        self,
        spool: Spool,
        client: S3Client,
        sink: str,
        *,
        extra_args: dict[str, str],
        transfer: TransferConfig,
        retry: RetrySettings,
        sleep: Callable[[float], None] | None = None,
        idle_rescan: float = IDLE_RESCAN,
    ) -> None:
        self.spool = spool
        self.client = client
        self.sink = sink
        self.extra_args = extra_args
        self.transfer = transfer
        self.retry = retry
        self.idle_rescan = idle_rescan
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._sleep: Callable[[float], None] = sleep or self._wait
        self._lock = UploaderLock(spool.dir)
        self._thread: threading.Thread | None = None
        self._reported: str | None = None  # kind of the last error logged
        self._recovered = False
        self._waiting_logged = False
        self._report_lock = threading.Lock()
        self.last_failure: Failure | None = None
        self.passes = 0  # completed passes over the spool, after recovery
        self.elsewhere = False  # another uploader (process) holds this spool

    # -- thread control ------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"s3-uploader {self.sink}")
        # A daemon thread: an upload stuck in a socket must not keep a process
        # from exiting; whatever it was sending is still in the spool.
        self._thread.daemon = True
        self._thread.start()

    def _wait(self, seconds: float) -> None:
        # Backoff sleeps end early when the uploader is stopped.
        self._stop.wait(seconds)

    def wake(self) -> None:
        self._wake.set()

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for this sink's spool to empty."""
        deadline = time.monotonic() + timeout
        # Until a first pass ran, leftovers of a crash may not be entries yet
        # (unless another uploader owns this spool: then recovery is its job).
        while not (self.passes or self.elsewhere) or self.spool.entries():
            left = deadline - time.monotonic()
            if left <= 0 or self._thread is None or not self._thread.is_alive():
                return False
            self._wake.set()
            with self._progress:
                self._progress.wait(min(left, 0.2))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        self._recovered = False
        self._waiting_logged = False
        try:
            while not self._stop.is_set():
                try:
                    idle = self._iteration()
                except Exception:  # a bug or a vanished spool must not end uploads for good
                    log.exception("S3 uploader for %s failed unexpectedly", self.sink)
                    idle = False
                self._notify()
                if self._stop.is_set():
                    break
                if idle:
                    self._wake.wait(self.idle_rescan)
                    self._wake.clear()
                else:
                    self._stop.wait(self.retry.max_wait)
        finally:
            self._lock.release()
            self._notify()

    def _iteration(self) -> bool:
        """One pass if this spool is ours; True when it left nothing to do."""
        if not self._lock.acquire():
            self.elsewhere = True
            if not self._waiting_logged:
                log.warning(
                    "spool %s is drained by another uploader (pid %s); waiting for it",
                    self.spool.dir,
                    self._lock.holder(),
                )
                self._waiting_logged = True
            return False
        self.elsewhere = False
        if not self._recovered:
            self._recovered = self.spool.recover()
        ok = self.run_pass()
        self.passes += 1
        return ok

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def run_pass(self) -> bool:
        """Try every spooled dump once (oldest first); False if one is left."""
        ok = True
        for entry in self.spool.entries():
            if self._stop.is_set():
                return False
            try:
                self.upload(entry)
            except Stopped:
                return False
            except UploadFailed as e:
                ok = False
                if e.failure.store_wide:
                    return False
            self._notify()
        return ok

    # -- one dump ------------------------------------------------------------

    def upload(self, entry: Entry) -> None:
        """Send one spooled dump and delete it once confirmed. Raises UploadFailed."""
        started = time.monotonic()
        try:
            if not self.spool.verify(entry):
                return  # refused, counted and said by the spool; never sent nor deleted
            if not self._step(self._already_stored, entry):
                self._step(self._put, entry)
                if not self._step(self._confirmed, entry):
                    m.ERRORS.labels("unconfirmed").inc()
                    raise NotConfirmed(
                        f"after the upload the store does not hold {entry.size} bytes "
                        f"with sha256 {entry.sha256[:12]}..."
                    )
        except Stopped:
            raise
        except FileNotFoundError:
            # Dropped from a full spool while we were at it: counted there.
            log.info("spooled dump %s went away before its upload finished", entry.data_path)
            return
        except Exception as e:
            f = classify(e, entry.url)
            m.UPLOADS.labels("failed").inc()
            self.failed(f)
            raise UploadFailed(f) from None
        self.spool.remove(entry)
        m.UPLOADS.labels("ok").inc()
        m.UPLOAD_SECONDS.observe(time.monotonic() - started)
        self.succeeded()
        log.info("uploaded %s (%d bytes) from the spool", entry.url, entry.size)

    def _step(self, fn: Callable[[Entry], T], entry: Entry) -> T:
        def attempt() -> T:
            if self._stop.is_set():
                raise Stopped()
            try:
                return fn(entry)
            except FileNotFoundError:
                raise
            except Exception as e:
                f = classify(e, entry.url)
                m.ERRORS.labels(f.kind).inc()
                self.last_failure = f  # for a caller that stops waiting mid-retry
                raise

        r = Retrying(
            retry=retry_if_exception(
                lambda e: (
                    not isinstance(e, Stopped | FileNotFoundError) and classify(e, "").transient
                )
            ),
            wait=backoff(self.retry),
            stop=stop_after_attempt(max(1, self.retry.attempts)),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return r(attempt)

    def _before_sleep(self, state: RetryCallState) -> None:
        m.RETRIES.inc()
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.debug("retrying in %.2fs after %s", wait, exc)

    def _already_stored(self, entry: Entry, *, before: bool = True) -> bool:
        try:
            h = self.client.head_object(Bucket=entry.bucket, Key=entry.key)
        except ClientError as e:
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = e.response.get("Error", {}).get("Code")
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return False
            # Without s3:ListBucket a missing key answers 403, and a HEAD has no
            # body to say more: before the upload, just try it (the PUT gives a
            # clear error if the credentials are the problem).
            if before and status == 403:
                return False
            raise
        return bool(
            h.get("ContentLength") == entry.size
            and h.get("Metadata", {}).get("sha256") == entry.sha256
        )

    def _confirmed(self, entry: Entry) -> bool:
        return self._already_stored(entry, before=False)

    def _put(self, entry: Entry) -> None:
        extra: dict[str, Any] = {
            "ContentType": entry.content_type,
            "Metadata": entry.metadata,
            **self.extra_args,
        }
        if entry.content_encoding:
            extra["ContentEncoding"] = entry.content_encoding
        with open(entry.data_path, "rb") as f:
            self.client.upload_fileobj(
                f, entry.bucket, entry.key, ExtraArgs=extra, Config=self.transfer
            )

    # -- reporting: one clear error per kind, not one per retry --------------

    def failed(self, f: Failure) -> None:
        m.STORE_UP.labels(self.sink).set(0)
        self.last_failure = f
        with self._report_lock:
            first = self._reported != f.kind
            self._reported = f.kind
        if first:
            log.error("%s (dumps stay in the spool %s and are retried)", f.message, self.spool.dir)
        else:
            log.debug("%s", f.message)

    def succeeded(self) -> None:
        m.STORE_UP.labels(self.sink).set(1)
        self.last_failure = None
        with self._report_lock:
            was = self._reported
            self._reported = None
        if was is not None:
            log.info("%s: uploads work again", self.sink)
