"""The dump format's constants: its name and version, and the fields of a record."""

from __future__ import annotations

FORMAT = "traceloop-dump"


# 2: capture kinds 9-13 (arrays, iovecs, message headers); a version-1 reader
# would refuse their records, so it is told to upgrade instead.
VERSION = 2


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# Record fields, in order.
SEQ, TS, DUR, CPU, PID, TID, COMM, NR, ARGS, RET, CAPS = range(11)


RECORD_LEN = 11
