"""Opening a dump given on the command line: a local path, or a URL.

`show` reads through here, so every place a dump can come from (a file, `-`
for standard input, `s3://...` once that sink exists) is handled once.
"""

from __future__ import annotations

import importlib
import sys

from .dumpfile import DumpReader
from .errors import DumpFormatError


def open_dump(arg: str) -> DumpReader:
    """A streaming reader for `arg`; errors name `arg`."""
    if arg == "-":
        return DumpReader(sys.stdin.buffer, "<stdin>")
    if arg.startswith("s3://"):
        try:
            s3 = importlib.import_module("sidecar.s3")
        except ModuleNotFoundError:
            raise DumpFormatError(f"{arg}: s3:// is not available in this build") from None
        reader: DumpReader = s3.open_s3_dump(arg)
        return reader
    return DumpReader(arg)


