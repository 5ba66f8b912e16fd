"""The on-disk spool in front of the S3 uploader.

Layout: `ROOT/SINKDIR/BASE.json` (where the dump goes: bucket, key, size,
sha256, metadata) next to `ROOT/SINKDIR/BASE.msgpack[.zst]` (the dump). An
entry exists once both are there. Writing a dump:

1. the bytes go to `.incoming-BASE...` through `atomic_write` (fsync, rename);
2. the cap is checked against the finished size (`spoolpolicy.admit`);
3. `BASE.json` is written atomically;
4. `.incoming-BASE...` is renamed to its final name, and the directory fsynced.

A crash leaves at most an `.incoming-` file (finished on start if its JSON was
written, removed otherwise: its writer never heard "stored") or a JSON whose
dump is gone (removed). An entry is deleted only after the store confirmed it.

Nothing in the spool is trusted because it is there: its directories must be
ours and writable by nobody else (as sshd's StrictModes asks of ~/.ssh); an
entry names a bare file beside its JSON, for this sink's bucket and prefix;
and the dump's size and sha256 are computed again from the file (a regular
file of ours, not a link) before it is sent, so what the store confirms is
what the spool held.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from sidecar.model.errors import SinkError
from sidecar.sinks.local import atomic_write, clean_partials
from sidecar.sinks.s3 import _metrics as s3metrics
from sidecar.sinks.s3._policy import Spooled, admit

log = logging.getLogger("traceloop.spool")

ENTRY_VERSION = 1
INCOMING = ".incoming-"
Writer = Callable[[IO[bytes]], object]


@dataclass(frozen=True)
class Entry:
    """One spooled dump and where it is going."""

    dir: Path
    base: str
    data: str  # file name of the dump in `dir`
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    content_encoding: str | None
    metadata: dict[str, str] = field(default_factory=dict)
    spooled_ns: int = 0

    @property
    def data_path(self) -> Path:
        return self.dir / self.data

    @property
    def meta_path(self) -> Path:
        return self.dir / f"{self.base}.json"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_json(self) -> bytes:
        d = asdict(self)
        d.pop("dir")
        d["version"] = ENTRY_VERSION
        return json.dumps(d, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, path: Path) -> Entry:
        """Read and check an entry: every field of its type, names bare and its own."""
        d = json.loads(path.read_bytes())
        if not isinstance(d, dict) or d.get("version") != ENTRY_VERSION:
            raise ValueError("not a version 1 spool entry")
        d.pop("version")
        unknown = set(d) - _FIELDS.keys()
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        for name, check in _FIELDS.items():
            if not check(d.get(name)):
                raise ValueError(f"field {name!r} is missing or wrong")
        base, data = d["base"], d["data"]
        if path.name != f"{base}.json" or data not in (f"{base}.msgpack", f"{base}.msgpack.zst"):
            raise ValueError("it names a file that is not its own")
        return cls(dir=path.parent, **d)


def _bare(v: Any) -> bool:
    """A file name in the entry's own directory: no path, nothing hidden."""
    return (
        isinstance(v, str) and 0 < len(v) <= 255 and "/" not in v and "\0" not in v
        and not v.startswith(".")
    )  # fmt: skip


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS: dict[str, Any] = {
    "base": _bare,
    "data": _bare,
    "bucket": lambda v: isinstance(v, str) and 0 < len(v) <= 63,
    "key": lambda v: isinstance(v, str) and 0 < len(v.encode()) <= 1024,
    "size": _count,
    "sha256": lambda v: isinstance(v, str) and _SHA256.match(v) is not None,
    "content_type": lambda v: isinstance(v, str),
    "content_encoding": lambda v: v is None or v == "zstd",
    "metadata": lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
    ),
    "spooled_ns": _count,
}


def check_private_dir(d: Path) -> None:
    """Refuse a spool directory that someone else could write to (StrictModes)."""
    try:
        st = os.lstat(d)
    except OSError as e:
        raise SinkError(f"spool directory {d}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise SinkError(f"spool directory {d} is not a directory (a link?); not used")
    if st.st_uid != os.geteuid():
        raise SinkError(f"spool directory {d} belongs to uid {st.st_uid}, not to us; not used")
    if st.st_mode & 0o022:
        raise SinkError(
            f"spool directory {d} is writable by others (mode {stat.S_IMODE(st.st_mode):o}): "
            f"not used, since anyone who can write there could have a file sent; "
            f"`chmod go-w {d}` or choose another --spool"
        )


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a regular file of ours, opened without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise ValueError("not a regular file of ours")
        sha = hashlib.sha256()
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return st.st_size, sha.hexdigest()


class _Tee:
    """Counts and hashes what is written, on its way to the file."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.size = 0
        self.sha = hashlib.sha256()

    def write(self, b: bytes | bytearray | memoryview) -> int:
        n = self.f.write(b)
        self.sha.update(b)
        self.size += len(b)
        return n

    def flush(self) -> None:
        self.f.flush()

    def writable(self) -> bool:
        return True


# Admission is serialised per spool root: in this process with a lock, across
# processes (a daemon and a `record` sharing --spool) with flock.
_root_locks: dict[str, threading.Lock] = {}
_root_locks_guard = threading.Lock()


@contextlib.contextmanager
def _admission_lock(root: Path) -> Iterator[None]:
    with _root_locks_guard:
        tlock = _root_locks.setdefault(str(root), threading.Lock())
    with tlock:
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _file_size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _remove(entry: Entry) -> None:
    # Dump first, then its JSON: a crash in between leaves a JSON without a
    # dump, which recovery removes; never a dump without directions.
    for p in (entry.data_path, entry.meta_path):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def scan(root: Path) -> tuple[list[Entry], int]:
    """All entries under a spool root (every sink), and the bytes of other files."""
    entries: list[Entry] = []
    other = 0
    if not root.is_dir():
        return entries, other
    for sub in root.iterdir():
        if not sub.is_dir():
            continue
        named: set[str] = set()
        for p in sub.iterdir():
            if p.suffix != ".json" or p.name.startswith("."):
                continue
            try:
                e = Entry.from_json(p)
            except (OSError, ValueError, TypeError):
                continue
            if e.data_path.exists():
                entries.append(e)
                named.update((e.data, p.name))
        for p in sub.iterdir():
            # Lock files are bookkeeping, not spooled data.
            if p.name not in named and not p.name.endswith(".lock") and p.is_file():
                other += _file_size(p)
    return entries, other


class Spool:
    """The spool directory of one S3 sink, under a root shared by all of them."""

    def __init__(
        self,
        root: Path,
        subdir: str,
        max_bytes: int,
        policy: str,
        *,
        bucket: str | None = None,
        prefix: str = "",
    ) -> None:
        self.root = root
        self.dir = root / subdir
        self.max_bytes = max_bytes
        self.policy = policy
        self.bucket, self.prefix = bucket, prefix  # where this sink's entries may go
        for d in (root, self.dir):
            try:
                d.mkdir(mode=0o700, parents=d is root, exist_ok=True)
            except OSError as e:
                raise SinkError(f"cannot create spool directory {d}: {e.strerror}") from None
            check_private_dir(d)
        self._refused: set[str] = set()  # entries already reported
        s3metrics.watch_spool(str(root), self.stats)

    def entries(self) -> list[Entry]:
        """This sink's complete entries, oldest first."""
        out: list[Entry] = []
        for p in self.dir.glob("*.json"):
            try:
                e = Entry.from_json(p)
                under = f"{self.prefix}/" if self.prefix else ""
                if self.bucket is not None and (
                    e.bucket != self.bucket or not e.key.startswith(under)
                ):
                    raise ValueError(f"it is for {e.url}, not for this sink")
            except (OSError, ValueError, TypeError) as err:
                self.refuse(p, str(err))
                continue
            if e.data_path.exists():
                out.append(e)
        out.sort(key=lambda e: (e.spooled_ns, e.base))
        return out

    def stats(self) -> tuple[int, int, int | None]:
        """Bytes, dump count and oldest spooled_ns of the whole root (for metrics)."""
        try:
            entries, other = scan(self.root)
        except OSError:
            return 0, 0, None
        size = other + sum(_file_size(e.data_path) + _file_size(e.meta_path) for e in entries)
        oldest = min((e.spooled_ns for e in entries), default=None)
        return size, len(entries), oldest

    def put(
        self,
        base: str,
        bucket: str,
        key: str,
        write: Writer,
        *,
        compress: str | None,
        content_type: str,
        metadata: Callable[[str], dict[str, str]],
    ) -> Entry:
        """Spool one dump; returns its entry. Raises SinkError if refused."""
        ext = ".msgpack.zst" if compress == "zstd" else ".msgpack"
        incoming = self.dir / f"{INCOMING}{base}{ext}"
        tee_box: list[_Tee] = []

        def fill(f: IO[bytes]) -> None:
            tee = _Tee(f)
            tee_box.append(tee)
            if compress == "zstd":
                import zstandard

                # closefd=False: the file belongs to atomic_write, which fsyncs it.
                with zstandard.ZstdCompressor(level=3).stream_writer(
                    cast(IO[bytes], tee), closefd=False
                ) as z:
                    write(cast(IO[bytes], z))
            else:
                write(cast(IO[bytes], tee))

        with self._writing():
            atomic_write(incoming, fill)
            tee = tee_box[0]
            entry = Entry(
                dir=self.dir,
                base=base,
                data=f"{base}{ext}",
                bucket=bucket,
                key=key,
                size=tee.size,
                sha256=tee.sha.hexdigest(),
                content_type=content_type,
                content_encoding="zstd" if compress == "zstd" else None,
                metadata=metadata(tee.sha.hexdigest()),
                spooled_ns=time.time_ns(),
            )
            try:
                with _admission_lock(self.root):
                    self._admit(entry, incoming)
                    atomic_write(entry.meta_path, lambda f: f.write(entry.to_json()))
                    os.rename(incoming, entry.data_path)
                    _fsync_dir(self.dir)
            except OSError as e:
                with contextlib.suppress(OSError):
                    incoming.unlink()
                raise SinkError(f"spooling {entry.data_path} failed: {e.strerror or e}") from None
            except BaseException:
                with contextlib.suppress(OSError):
                    incoming.unlink()
                raise
            return entry

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        # Shared by every writer; recovery takes it exclusively, so it never
        # mistakes a write in progress (here or in another process) for debris.
        fd = os.open(self.dir / ".writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def _admit(self, entry: Entry, incoming: Path) -> None:
        entries, other = scan(self.root)
        # The new dump is already on disk as an incoming file: count it as new,
        # not as "other"; and a dump stored again replaces its older copy.
        other -= _file_size(incoming)
        entries = [e for e in entries if e.meta_path != entry.meta_path]
        by_id = {str(e.meta_path): e for e in entries}
        spooled = [
            Spooled(
                str(e.meta_path), _file_size(e.data_path) + _file_size(e.meta_path), e.spooled_ns
            )
            for e in entries
        ]
        decision = admit(spooled, max(other, 0), entry.size, self.max_bytes, self.policy)
        if not decision.accept:
            s3metrics.SPOOL_FULL.labels("refused").inc()
            log.error(
                "spool %s: refused dump for %s: %s (--spool-max-bytes %d, --spool-full %s)",
                self.root,
                entry.url,
                decision.why,
                self.max_bytes,
                self.policy,
            )
            raise SinkError(
                f"spool {self.root} is full: {decision.why}; dump for {entry.url} not stored"
            )
        for s in decision.drop:
            old = by_id[s.ident]
            _remove(old)
            s3metrics.SPOOL_FULL.labels("dropped").inc()
            log.error(
                "spool %s full: dropped the oldest dump %s (was going to %s) to make room",
                self.root,
                old.data_path,
                old.url,
            )

    def remove(self, entry: Entry) -> None:
        _remove(entry)

    def verify(self, entry: Entry) -> bool:
        """Is the file what the entry says (size and sha256 computed again)?"""
        try:
            size, sha = file_digest(entry.data_path)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            self.refuse(entry.meta_path, f"its dump file: {e}")
            return False
        if (size, sha) != (entry.size, entry.sha256):
            self.refuse(entry.meta_path, "its dump file does not match its size and sha256")
            return False
        return True

    def refuse(self, path: Path, why: str) -> None:
        """An entry not sent: left alone, said once, counted."""
        if str(path) in self._refused:
            return
        self._refused.add(str(path))
        s3metrics.ERRORS.labels("refused").inc()
        log.error("spool entry %s refused and left alone: %s", path, why)

    def recover(self) -> bool:
        """Finish or clear what a crash left in this sink's spool directory.

        False (nothing done) while a dump is being written: try again later.
        """
        fd = os.open(self.dir / ".writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._recover()
            return True
        finally:
            os.close(fd)

    def _recover(self) -> None:
        n = clean_partials(self.dir)
        if n:
            log.info("spool %s: removed %d partial file(s) of an interrupted write", self.dir, n)
        for p in self.dir.glob(f"{INCOMING}*"):
            base = p.name[len(INCOMING) :].removesuffix(".zst").removesuffix(".msgpack")
            meta = self.dir / f"{base}.json"
            final = self.dir / p.name[len(INCOMING) :]
            if meta.exists() and not final.exists():
                # Admitted and described, only the last rename was missing.
                os.rename(p, final)
                log.info("spool %s: finished spooling %s after a crash", self.dir, final.name)
            else:
                p.unlink()
                log.warning(
                    "spool %s: removed %s, a dump whose spooling was interrupted before "
                    "it was accepted",
                    self.dir,
                    p.name,
                )
        described: set[str] = set()
        for meta in self.dir.glob("*.json"):
            try:
                e = Entry.from_json(meta)
            except (OSError, ValueError, TypeError):
                continue
            described.add(e.data)
            if not e.data_path.exists():
                meta.unlink()
                log.warning("spool %s: removed %s, its dump file is gone", self.dir, meta.name)
        for p in self.dir.glob("*.msgpack*"):
            if p.name not in described:
                log.warning(
                    "spool %s: %s has no .json next to it and cannot be uploaded; "
                    "left in place (read it with `traceloop show`)",
                    self.dir,
                    p.name,
                )


class UploaderLock:
    """An exclusive flock per sink directory: one uploader drains it at a time."""

    def __init__(self, d: Path) -> None:
        self.path = d / ".uploader.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        if self.fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
