"""Writing a dump: header, records, footer (docs/dump-format.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import msgpack

from sidecar.dump.records import FORMAT, VERSION


def write_dump(out: IO[bytes], header: dict[str, Any], records: Iterable[list[Any]]) -> int:
    """Write a whole dump to `out`; returns the number of records."""
    packer = msgpack.Packer(use_bin_type=True)
    out.write(packer.pack({"format": FORMAT, "version": VERSION, **header}))
    n = 0
    buf = bytearray()
    for rec in records:
        buf += packer.pack(rec)
        n += 1
        if len(buf) > 1 << 16:
            out.write(buf)
            buf.clear()
    out.write(buf)
    out.write(packer.pack({"footer": True, "records": n}))
    return n
