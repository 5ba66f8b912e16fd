"""The dump format's constants: its name and version, and the fields of a record."""

from __future__ import annotations

FORMAT = "traceloop-dump"


# 2: a capture whose memory could not be read is [arg, kind, nil, full_len];
# signal deliveries are records of their own (nr = SIGNAL); capture kinds
# 9-16 (arrays, iovecs, message headers...). A version-1 reader would refuse
# such records, so it is told to upgrade instead.
VERSION = 3


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


# Record fields, in order.
SEQ, TS, DUR, CPU, PID, TID, COMM, NR, ARGS, RET, CAPS = range(11)


RECORD_LEN = 11

# A record's `nr` from KIND_BASE up is not a system call (no architecture
# numbers one so high) but another kind of record; readers skip kinds they
# do not know.
KIND_BASE = 1 << 31
SIGNAL = KIND_BASE  # a signal delivered to a thread (docs/dump-format.md)

UNREADABLE = None  # a capture's data when the kernel could not read the memory
