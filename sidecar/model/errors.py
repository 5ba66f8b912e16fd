"""The project's error hierarchy.

Every error a user can cause or meet at the edges (kernel, files, network) is a
`TraceloopError` with a message that says what to do; the CLI prints it on one
line and exits with its `exit_code`. Anything else is a bug and keeps its
traceback.
"""

ERROR_MAX = 1000  # characters of a message printed: values it echoes can be long


class TraceloopError(Exception):
    """Base of all errors the CLI reports as one line."""

    exit_code = 1


class UsageError(TraceloopError):
    """Bad command-line input."""

    exit_code = 2


class KernelError(TraceloopError):
    """The kernel side could not be set up (headers, permissions, tracefs)."""


class MissingHeadersError(KernelError):
    pass


class PermissionDeniedError(KernelError):
    pass


class TracefsError(KernelError):
    pass


class CgroupError(TraceloopError):
    """cgroup v2 is missing or a cgroup could not be created or joined."""


class DumpFormatError(TraceloopError):
    """A file is not a valid traceloop dump (or is corrupt beyond reading)."""

    exit_code = 2


class DumpTruncatedError(TraceloopError):
    """A dump ended before its footer: what it held was read, the rest is gone."""

    exit_code = 1


class SinkError(TraceloopError):
    """A dump could not be stored."""
