"""The dump file: a stream of msgpack objects (docs/dump-format.md).

    header (map) · record (array) ... · footer (map)

The reader streams with bounded buffers and checks shapes as it goes: a file
that is not a dump, or a damaged one, raises `DumpFormatError` naming the file;
one that stops before its footer yields what it holds and then raises
`DumpTruncatedError`. It never needs memory proportional to the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgpack

from sidecar.dump.records import (
    ARGS,
    CAPS,
    COMM,
    CPU,
    DUR,
    FORMAT,
    NR,
    PID,
    RECORD_LEN,
    RET,
    TID,
    TS,
    VERSION,
    ZSTD_MAGIC,
)
from sidecar.model.errors import DumpFormatError, DumpTruncatedError

_LIMITS = {
    "max_buffer_size": 8 << 20,
    "max_bin_len": 1 << 20,
    "max_str_len": 1 << 20,
    "max_array_len": 1 << 16,
    "max_map_len": 1 << 16,
    "max_ext_len": 0,
}


def _open(source: str | Path | IO[bytes]) -> tuple[IO[bytes], str]:
    if isinstance(source, str | Path):
        try:
            f: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by DumpReader
        except OSError as e:
            raise DumpFormatError(f"{source}: cannot open: {e.strerror or e}") from None
        return f, str(source)
    return source, getattr(source, "name", "<stream>")


class DumpReader:
    """Streams one dump. Use as a context manager; iterate for records."""

    def __init__(self, source: str | Path | IO[bytes], name: str | None = None) -> None:
        raw, default_name = _open(source)
        self.name = name or default_name
        self._raw = raw
        stream = raw
        head = _peek(raw, 4)
        if head == ZSTD_MAGIC:
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        self._unpacker = msgpack.Unpacker(
            stream, use_list=True, raw=False, strict_map_key=False, **_LIMITS
        )
        self.footer: dict[str, Any] | None = None
        self.count = 0
        self.header = self._read_header()

    def __enter__(self) -> DumpReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw.close()

    def _fail(self, what: str) -> DumpFormatError:
        return DumpFormatError(f"{self.name}: {what}")

    def _next(self) -> Any:
        try:
            return next(self._unpacker)
        except StopIteration:
            raise
        except msgpack.OutOfData:
            raise StopIteration from None
        except Exception as e:
            raise self._translate(e) from None

    def _translate(self, e: Exception) -> Exception:
        """A DumpFormatError for what reading the stream raised, naming the file."""
        if isinstance(e, (ValueError, TypeError, UnicodeDecodeError, msgpack.UnpackException)):
            return self._fail(f"corrupt msgpack data ({type(e).__name__}: {e})")
        if isinstance(e, OSError):  # e.g. a damaged zstd frame
            return self._fail(f"cannot read: {e}")
        if type(e).__name__ == "ZstdError":  # zstandard.ZstdError is not an OSError
            return self._fail(f"corrupt zstd data: {e}")
        return e

    def _read_header(self) -> dict[str, Any]:
        try:
            h = self._next()
        except StopIteration:
            raise self._fail("empty file, not a traceloop dump") from None
        if not isinstance(h, dict) or h.get("format") != FORMAT:
            raise self._fail("not a traceloop dump (no traceloop-dump header)")
        v = h.get("version")
        if not isinstance(v, int):
            raise self._fail("header has no format version")
        if v > VERSION:
            raise self._fail(
                f"format version {v} is newer than this traceloop reads ({VERSION}); upgrade"
            )
        return h

    def __iter__(self) -> Iterator[list[Any]]:
        # The records' loop iterates the Unpacker itself (one C call per
        # record): `show` spends a third of its time here.
        unpacker, ok = self._unpacker, _record_ok
        obj: Any = _END
        try:
            for obj in unpacker:
                if type(obj) is not list:
                    break
                if len(obj) != RECORD_LEN or not ok(obj):
                    raise self._fail(f"malformed record #{self.count + 1}")
                self.count += 1
                yield obj
            else:
                obj = _END  # the stream ended without a footer
        except msgpack.OutOfData:
            obj = _END
        except DumpFormatError:
            raise
        except Exception as e:
            raise self._translate(e) from None
        if obj is _END:
            raise DumpTruncatedError(
                f"{self.name}: truncated after {self.count} records (no footer)"
            )
        if isinstance(obj, dict) and obj.get("footer") is True:
            self.footer = obj
            if obj.get("records") != self.count:
                raise self._fail(
                    f"footer says {obj.get('records')} records, file holds {self.count}"
                )
            try:
                self._next()
            except StopIteration:
                return
            raise self._fail("unexpected data after the footer")
        raise self._fail(f"unexpected {type(obj).__name__} after record #{self.count}")


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


_SIX_INTS = (int,) * 6


def _cap_ok(c: Any) -> bool:
    return (
        isinstance(c, list)
        and len(c) == 4
        and isinstance(c[0], int)
        and isinstance(c[1], int)
        and isinstance(c[2], bytes)
        and isinstance(c[3], int)
    )


def _record_ok(r: list[Any]) -> bool:
    # Runs once per record, so it is on show's hot path: map() keeps the
    # argument and capture checks in C (no generator frames), and most records
    # capture nothing.
    args, caps = r[ARGS], r[CAPS]
    return (
        isinstance(r[TS], int)
        and isinstance(r[NR], int)
        and isinstance(r[PID], int)
        and isinstance(r[TID], int)
        and isinstance(r[CPU], int)
        and isinstance(r[COMM], str)
        and isinstance(args, list)
        and len(args) == 6
        and all(map(isinstance, args, _SIX_INTS))
        and (r[RET] is None or isinstance(r[RET], int))
        and (r[DUR] is None or isinstance(r[DUR], int))
        and isinstance(caps, list)
        and (not caps or all(map(_cap_ok, caps)))
    )


def read_all(data: bytes, name: str = "<bytes>") -> tuple[dict[str, Any], list[list[Any]]]:
    """Header and records of an in-memory dump (tests, small tools)."""
    with DumpReader(io.BufferedReader(io.BytesIO(data)), name) as r:  # type: ignore[arg-type]
        return r.header, list(r)
