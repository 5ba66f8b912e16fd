"""Opening a dump given on the command line: a local path, or a URL.

`show` reads through here, so every place a dump can come from (a file, `-`
for standard input, `s3://BUCKET/KEY`) is handled once.
"""

from __future__ import annotations

import sys

from sidecar.dump.reader import DumpReader


def open_dump(arg: str) -> DumpReader:
    """A streaming reader for `arg`; errors name `arg`."""
    if arg == "-":
        return DumpReader(sys.stdin.buffer, "<stdin>")
    if arg.startswith("s3://"):
        # Imported here: boto3 is slow to import, local files do not need it.
        from sidecar.sinks.s3 import open_s3_dump

        return open_s3_dump(arg)
    return DumpReader(arg)
