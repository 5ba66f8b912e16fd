"""The dump format's constants: its name and version, and the fields of a record."""

from __future__ import annotations

FORMAT = "traceloop-dump"


VERSION = 1


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# Record fields, in order.
SEQ, TS, DUR, CPU, PID, TID, COMM, NR, ARGS, RET, CAPS = range(11)


RECORD_LEN = 11
