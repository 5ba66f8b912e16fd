"""Running the command `traceloop record` wraps, the way a shell runs it.

- The command is looked up in PATH here, before the fork, so the child makes
  exactly one execve (a PATH search in the child would make one failed execve
  per directory before the right one, and they would be recorded).
- Not found is 127 and not executable is 126, with the shell's messages.
- The child starts with the signal dispositions `traceloop` was given: the
  signals we forward are blocked here (not ignored: SIG_IGN survives execve,
  a blocked mask is restored in the child before it), so the child has them at
  their default unless `traceloop` itself was started with one ignored (a
  background job's SIGINT), which it keeps, as it would without us.
- SIGHUP, SIGINT, SIGTERM and SIGQUIT sent to `traceloop` are passed on to the
  child (as timeout(1) does): killed by one, record could not remove its cgroup.
  A terminal's signals (Ctrl-C, Ctrl-\\) go to the whole foreground process
  group, the child included, and are not passed on a second time.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from sidecar.model.errors import TraceloopError

FORWARDED = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel sent (a terminal's)
NOT_FOUND = 127
CANNOT_EXECUTE = 126


class CommandError(TraceloopError):
    """The command could not be started; exit status as a shell's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def resolve(name: str, path: str | None) -> str:
    """The file a shell would execute for `name`, searching `path` (PATH).

    A name with a slash is used as it is (execve says what is wrong with it).
    In PATH, the first executable regular file wins; if there is none but a
    non-executable one, that one (execve then fails with EACCES: 126).
    """
    if "/" in name:
        return name
    if not name:
        raise CommandError(": command not found", NOT_FOUND)
    fallback = None
    for d in (os.defpath if path is None else path).split(":"):
        candidate = os.path.join(d or ".", name)
        if not os.path.isfile(candidate):
            continue
        if os.access(candidate, os.X_OK):
            return candidate
        fallback = fallback or candidate
    if fallback is None:
        raise CommandError(f"{name}: command not found", NOT_FOUND)
    return fallback


def exec_error(shown: str, exe: str, e: OSError) -> CommandError:
    """What a shell says when execve of `exe` failed."""
    if e.errno == errno.ENOENT:
        return CommandError(f"{shown}: No such file or directory", NOT_FOUND)
    if os.path.isdir(exe):
        return CommandError(f"{shown}: Is a directory", CANNOT_EXECUTE)
    if e.errno == errno.ENOEXEC:
        return CommandError(f"{shown}: cannot execute binary file: Exec format error", 126)
    return CommandError(f"{shown}: {os.strerror(e.errno or errno.EACCES)}", CANNOT_EXECUTE)


def shell_status(returncode: int) -> int:
    """A Popen return code as a shell's $?: 128 + N for death by signal N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Child:
    """A started command, and the signals to pass on to it."""

    proc: subprocess.Popen[bytes]
    signals: tuple[signal.Signals, ...]
    forwarded: int = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def forward(self) -> None:
        """Pass on the signals that arrived since the last call."""
        while self.signals:
            info = signal.sigtimedwait(self.signals, 0)
            if info is None:
                return
            if info.si_code == SI_KERNEL or info.si_pid == self.proc.pid:
                continue  # the child got it already (a terminal's, or its own `kill 0`)
            if self.proc.poll() is None:
                self.proc.send_signal(info.si_signo)
                self.forwarded += 1

    def wait(self, idle: Callable[[], None]) -> int:
        """Run `idle` (a short wait) until the child ends; its shell status.

        The forwarded signals stay blocked until then; ones that arrive while
        we finish are handled normally again (Ctrl-C stops the dump).
        """
        try:
            while self.proc.poll() is None:
                idle()
                self.forward()
        finally:
            self.forward()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, self.signals)
        return shell_status(self.proc.returncode)


def start(argv: list[str], exe: str, before_exec: Callable[[], None] | None = None) -> Child:
    """Start `argv` from the file `exe` (see `resolve`); `before_exec` runs in
    the child just before its execve (joining a cgroup).

    Raises CommandError (126/127) when the file cannot be executed.
    """
    # An ignored signal stays ignored in the child (execve keeps SIG_IGN): as
    # it would be without us in between; we need not forward it either.
    signals = tuple(s for s in FORWARDED if signal.getsignal(s) is not signal.SIG_IGN)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)

    def in_child() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if before_exec is not None:
            before_exec()

    try:
        proc = subprocess.Popen(argv, executable=exe, preexec_fn=in_child)
    except subprocess.SubprocessError as e:  # before_exec failed in the child
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise TraceloopError(f"cannot start {argv[0]}: {e}") from None
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise exec_error(argv[0], exe, e) from None
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
        raise
    return Child(proc, signals)
