"""The dump file: a stream of msgpack objects (docs/dump-format.md).

    header (map) · record (array) ... · footer (map)

This is the format's one validation layer. Whatever a file holds, the reader
either hands out a header and records of the documented types and bounds
(sidecar/dump/schema.py) or raises `DumpFormatError` (one line naming the
file: exit 2); a dump that stops before its footer yields what it holds and
then raises `DumpTruncatedError` (exit 1).

Memory is bounded while parsing, not after: the header is read one msgpack
map or array header at a time (Unpacker.read_map_header/read_array_header),
with its depth, its number of values and its size counted as it goes; records
are parsed by msgpack in C with per-record limits, and bytes fed to the parser
without a record completing are counted, so a record that would be large
(say, a compression bomb of nested arrays) is refused before it is built.
Only regular files (and standard input) are read: a FIFO or a device could
block or never end.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

from sidecar.dump import schema
from sidecar.dump.records import FORMAT, KIND_BASE, RECORD_LEN, SIGNAL, ZSTD_MAGIC
from sidecar.dump.syscalls import SyscallTable
from sidecar.model.errors import DumpFormatError, DumpTruncatedError
from sidecar.model.text import escape

CHUNK = 64 << 10  # bytes read from the file at a time

# The header (docs/dump-format.md, "Limits").
HEADER_MAX_BYTES = 4 << 20
HEADER_MAX_VALUES = 200_000  # every key, value and container counted
MAX_DEPTH = 16
_HEADER_LIMITS = {
    "max_buffer_size": HEADER_MAX_BYTES + 2 * CHUNK,
    "max_bin_len": 1 << 20,
    "max_str_len": 1 << 20,
    "max_array_len": 1 << 16,
    "max_map_len": 1 << 16,
    "max_ext_len": 0,
}

# Records: 11 fields, 6 arguments, at most 2 captures of at most 4 KiB each.
RECORD_MAX_BYTES = 64 << 10
_RECORD_LIMITS = {
    "max_buffer_size": 4 * CHUNK,
    "max_bin_len": schema.CAPTURE_MAX,
    "max_str_len": 64,
    "max_array_len": 16,
    "max_map_len": 4,
    "max_ext_len": 0,
}

_MAP = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])
_ARRAY = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
_UNSUPPORTED = frozenset([0xC1, 0xC7, 0xC8, 0xC9, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8])  # ext, never used


def _open(source: str | Path | IO[bytes]) -> tuple[IO[bytes], str]:
    if not isinstance(source, str | Path):
        return source, getattr(source, "name", "<stream>")
    name = str(source)
    try:
        # Non-blocking: opening a FIFO to read waits for a writer otherwise.
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise DumpFormatError(f"{name}: cannot open: {e.strerror or e}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise DumpFormatError(f"{name}: {what}; a dump is read from a file, or - for stdin")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb"), str(source)


class DumpReader:
    """Streams one dump. Use as a context manager; iterate for records."""

    def __init__(self, source: str | Path | IO[bytes], name: str | None = None) -> None:
        raw, default_name = _open(source)
        self.name = name or default_name
        self._raw = raw
        self.footer: dict[str, Any] | None = None
        self.count = 0
        try:
            self._stream = self._decompressing(raw)
            self.header = self._read_header()
        except BaseException:
            raw.close()
            raise
        self.syscalls = SyscallTable.from_header(self.header)

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    def _fail(self, what: str) -> DumpFormatError:
        return DumpFormatError(f"{self.name}: {what}")

    def _decompressing(self, raw: IO[bytes]) -> IO[bytes]:
        try:
            head = _peek(raw, 4)
        except OSError as e:
            raise self._fail(f"cannot read: {e.strerror or e}") from None
        if head == ZSTD_MAGIC:
            import zstandard

            return zstandard.ZstdDecompressor().stream_reader(  # type: ignore[return-value]
                raw, read_across_frames=True
            )
        return raw

    def _read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except OSError as e:  # an I/O error, or a damaged zstd frame
            raise self._fail(f"cannot read: {e.strerror or e}") from None
        except Exception as e:
            if type(e).__name__ == "ZstdError":  # zstandard.ZstdError is not an OSError
                raise self._fail(f"corrupt zstd data: {escape(str(e), 200)}") from None
            raise

    def _corrupt(self, e: Exception) -> DumpFormatError:
        return self._fail(f"corrupt msgpack data ({type(e).__name__}: {escape(str(e), 200)})")

    # --- the header, step by step --------------------------------------------

    def _read_header(self) -> dict[str, Any]:
        self._hbuf = bytearray()
        self._u = msgpack.Unpacker(raw=False, strict_map_key=False, **_HEADER_LIMITS)
        self._values = 0
        if not self._more():
            raise self._fail("empty file, not a traceloop dump")
        if self._hbuf[0] not in _MAP:
            raise self._fail("not a traceloop dump (no traceloop-dump header)")
        n = self._call(self._u.read_map_header)
        h: dict[str, Any] = {}
        for i in range(n):
            k, v = self._value(1), self._value(1)
            if i == 0 and (k, v) != ("format", FORMAT):
                raise self._fail("not a traceloop dump (no traceloop-dump header)")
            if type(k) is not str:
                raise self._fail("header has a key that is not a string")
            h[k] = v
        try:
            header = schema.header(h)
        except schema.Invalid as e:
            raise self._fail(f"header: {e}") from None
        # What was read past the header starts the records.
        end = self._u.tell()
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, **_RECORD_LIMITS)
        self._fed = len(self._hbuf) - end
        self._unpacker.feed(bytes(self._hbuf[end:]))
        del self._hbuf, self._u
        return header

    def _more(self) -> bool:
        """Feed the header's parser another chunk; False at the end of the file."""
        if len(self._hbuf) > HEADER_MAX_BYTES:
            raise self._fail(f"header larger than {HEADER_MAX_BYTES >> 20} MiB")
        chunk = self._read(CHUNK)
        if not chunk:
            return False
        self._hbuf += chunk
        self._u.feed(chunk)
        return True

    def _call(self, fn: Callable[[], Any]) -> Any:
        while True:
            try:
                return fn()
            except msgpack.OutOfData:
                if not self._more():
                    raise DumpTruncatedError(
                        f"{self.name}: truncated inside its header ({len(self._hbuf)} bytes)"
                    ) from None
            except (ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException) as e:
                raise self._corrupt(e) from None

    def _value(self, depth: int) -> Any:
        self._values += 1
        if self._values > HEADER_MAX_VALUES:
            raise self._fail(f"header holds more than {HEADER_MAX_VALUES} values")
        pos = self._u.tell()
        while pos >= len(self._hbuf):
            if not self._more():
                raise DumpTruncatedError(f"{self.name}: truncated inside its header")
        b = self._hbuf[pos]
        if b in _MAP or b in _ARRAY:
            if depth >= MAX_DEPTH:
                raise self._fail(f"header nested deeper than {MAX_DEPTH}")
            if b in _ARRAY:
                n = self._call(self._u.read_array_header)
                return [self._value(depth + 1) for _ in range(n)]
            out: dict[Any, Any] = {}
            for _ in range(self._call(self._u.read_map_header)):
                k = self._value(depth + 1)
                if type(k) is not str and type(k) is not int:
                    raise self._fail("header has a map key that is not a string or an integer")
                out[k] = self._value(depth + 1)
            return out
        if b in _UNSUPPORTED:
            raise self._fail("header holds a msgpack extension type")
        return self._call(self._u.unpack)

    # --- the records ---------------------------------------------------------

    def __iter__(self) -> Iterator[list[Any]]:
        # The records' loop iterates the Unpacker itself (one C call per
        # record): `show` spends a third of its time here.
        unpacker, ok, read = self._unpacker, schema.record_ok, self._read
        stalled = self._fed  # bytes fed since the last whole record
        end: Any = _END
        try:
            while True:
                before = self.count
                for obj in unpacker:
                    if type(obj) is not list:
                        end = obj
                        break
                    if len(obj) != RECORD_LEN or not ok(obj):
                        why = schema.record_problem(obj)
                        raise self._fail(f"malformed record #{self.count + 1}: {why}")
                    self.count += 1
                    if obj[7] >= KIND_BASE and obj[7] != SIGNAL:
                        continue  # a kind of record this version does not know
                    yield obj
                if end is not _END:
                    break
                stalled = stalled if self.count == before else 0
                if stalled > RECORD_MAX_BYTES:
                    raise self._fail(
                        f"record #{self.count + 1} is larger than {RECORD_MAX_BYTES >> 10} KiB"
                    )
                chunk = read(CHUNK)
                if not chunk:
                    break
                unpacker.feed(chunk)
                stalled += len(chunk)
                self._fed += len(chunk)
        except DumpFormatError:
            raise
        except (ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException) as e:
            raise self._corrupt(e) from None
        if end is _END:
            raise DumpTruncatedError(
                f"{self.name}: truncated after {self.count} records (no footer)"
            )
        self._footer(end)

    def _footer(self, obj: Any) -> None:
        if not isinstance(obj, dict) or obj.get("footer") is not True:
            what = "a map" if isinstance(obj, dict) else type(obj).__name__
            raise self._fail(f"unexpected {what} after record #{self.count}")
        n = obj.get("records")
        if type(n) is not int:
            raise self._fail("footer has no record count")
        if n != self.count:
            raise self._fail(f"footer says {n} records, file holds {self.count}")
        self.footer = obj
        if self._unpacker.tell() != self._fed or self._read(1):
            raise self._fail("unexpected data after the footer")


_END = object()  # DumpReader.__iter__: the stream ended


def _peek(f: IO[bytes], n: int) -> bytes:
    if hasattr(f, "peek"):
        return f.peek(n)[:n]  # type: ignore[no-any-return]
    if f.seekable():
        pos = f.tell()
        data = f.read(n)
        f.seek(pos)
        return data
    return b""


def read_all(data: bytes, name: str = "<bytes>") -> tuple[dict[str, Any], list[list[Any]]]:
    """Header and records of an in-memory dump (tests, small tools)."""
    with DumpReader(io.BufferedReader(io.BytesIO(data)), name) as r:  # type: ignore[arg-type]
        return r.header, list(r)
