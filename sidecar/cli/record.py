"""`traceloop record -- CMD`: run one command under the recorder (CI crash capture).

CMD runs in a fresh cgroup v2; the kernel side records it from its execve on.
When CMD (or any process it started) exits nonzero, dies of a fatal signal or
is OOM-killed, the window is written to --out. The exit status is CMD's own
(128 + signal number when a signal killed it; 127 when CMD is not found, 126
when it cannot be executed, as a shell says).

Recording fails open: when it cannot start (not root, no BPF, kernel headers
or tracefs missing, a syscall name this kernel lacks), one warning line is
printed and CMD runs unrecorded, its status passed through.
--require-recording makes that an error (exit 1, CMD not run).

SIGHUP, SIGINT, SIGTERM and SIGQUIT are passed on to CMD. Run under sudo, the dumps
and the directories they created belong to the user sudo was run by
(SUDO_UID/SUDO_GID), or to --owner.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sidecar.cli.options import add_recorder_options, settings_from
from sidecar.cli.recording import Recording
from sidecar.cli.s3options import add_s3_options, s3_options_from
from sidecar.dump.naming import DumpName
from sidecar.host import spawn
from sidecar.host.owner import Handover, Owner, owner_from
from sidecar.model.clock import time_boot_ns
from sidecar.model.errors import TraceloopError, UsageError
from sidecar.model.trigger import Trigger
from sidecar.sinks.registry import check_sink, make_sink
from triggers.command import command_ended, headline


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "record",
        help="run a command under the recorder; dump when it ends badly",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out",
        "--sink",
        dest="sink",
        default="./traceloop-dumps",
        metavar="DIR",
        help="where dumps go: a directory, file://DIR or s3://BUCKET/PREFIX (default %(default)s)",
    )
    p.add_argument(
        "--always", action="store_true", help="write a dump even when the command succeeds"
    )
    p.add_argument(
        "--require-recording",
        action="store_true",
        help="fail (exit 1, command not run) when recording cannot start, instead of "
        "running the command unrecorded",
    )
    p.add_argument(
        "--owner",
        metavar="USER[:GROUP]",
        help="give the dumps and the directories created for them to USER (default: "
        "the user sudo was run by, when run as root under sudo)",
    )
    p.add_argument(
        "--github-annotations",
        choices=["auto", "always", "never"],
        default="auto",
        help="print a ::error annotation naming the dump (auto: when GITHUB_ACTIONS=true)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print nothing but errors (and the warning that recording did not start)",
    )
    add_recorder_options(p)
    # CI keeps ./traceloop-dumps as an artifact: a dump the store did not take
    # in time stays there. Importing s3config does not import boto3.
    add_s3_options(p, spool_default="./traceloop-dumps/spool", upload_timeout_default=30.0)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=run)


def _one_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


@contextlib.contextmanager
def captured_stderr() -> Iterator[bytearray]:
    """What is written to file descriptor 2 meanwhile (by bcc's compiler too),
    in the bytearray given, once the block ends."""
    said = bytearray()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            yield said
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            said += f.read()


def run(args: argparse.Namespace) -> int:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("record: no command given (usage: traceloop record [OPTIONS] -- CMD ...)")
    settings = settings_from(args)  # wrong everywhere: a usage error, nothing runs
    check_sink(args.sink, **s3_options_from(args))
    owner = owner_from(args.owner)
    try:
        exe = spawn.resolve(cmd[0], os.environ.get("PATH"))
    except spawn.CommandError as e:
        print(f"traceloop: {e}", file=sys.stderr)
        return e.exit_code
    # The compiler writes its diagnostics to our stderr: failing open, the
    # warning stays one line; failing closed, they are shown.
    recording: Recording | None = None
    error: Exception | None = None
    with captured_stderr() as said:
        try:
            recording = Recording.start(settings)
        except Exception as e:  # fail open, whatever stopped it: _unrecorded
            error = e
    if recording is not None or args.require_recording:
        sys.stderr.buffer.write(said)
        sys.stderr.flush()
    if recording is None:
        assert error is not None
        return _unrecorded(args, cmd, exe, error, bool(said))
    try:
        return _run_recorded(args, cmd, exe, recording, owner)
    finally:
        recording.close()


def _unrecorded(
    args: argparse.Namespace, cmd: list[str], exe: str, error: Exception, compiler_said: bool
) -> int:
    """Recording could not start: one warning line, and the command runs as it
    would without us (--require-recording: an error, and it does not run)."""
    if args.require_recording:
        if isinstance(error, OSError):
            raise TraceloopError(f"cannot record: {error.strerror or error}") from None
        raise error  # a TraceloopError is one line; anything else is a bug: its traceback
    why = _one_line(error)
    if not isinstance(error, TraceloopError | OSError):
        why = f"a bug, please report it: {type(error).__name__}: {why}"
    more = " (add --require-recording to see the compiler's messages)" if compiler_said else ""
    print(
        f"traceloop: warning: not recording ({why}){more}; running the command unrecorded",
        file=sys.stderr,
        flush=True,
    )
    return _run_unrecorded(cmd, exe)


def _run_unrecorded(cmd: list[str], exe: str) -> int:
    try:
        child = spawn.start(cmd, exe)
    except spawn.CommandError as e:
        print(f"traceloop: {e}", file=sys.stderr)
        return e.exit_code
    return child.wait(lambda: time.sleep(0.05))


def _run_recorded(
    args: argparse.Namespace, cmd: list[str], exe: str, rec: Recording, owner: Owner | None
) -> int:
    try:
        child = spawn.start(cmd, exe, before_exec=rec.join)
    except spawn.CommandError as e:
        # Never started: the window would hold only the failed execve.
        print(f"traceloop: {e}", file=sys.stderr)
        return e.exit_code
    except TraceloopError as e:  # the child could not join the cgroup; it never ran
        return _unrecorded(args, cmd, exe, e, False)
    status = child.wait(rec.poll)
    rec.kernel.poll(0)
    if not (rec.triggers or status != 0 or args.always):
        return status
    try:
        path = _dump(args, rec, cmd, status, owner, child.pid)
    except TraceloopError as e:
        # The command's status is what CI needs; the lost dump is said once.
        print(f"traceloop: error: no dump: {_one_line(e)}", file=sys.stderr)
        return 1 if args.require_recording and status == 0 else status
    _report(args, path, rec.triggers, status)
    return status


def _dump(
    args: argparse.Namespace,
    rec: Recording,
    cmd: list[str],
    status: int,
    owner: Owner | None,
    pid: int,
) -> str | None:
    triggers = rec.triggers or [command_ended(status, time_boot_ns(), rec.offset)]
    container = {
        "name": os.path.basename(cmd[0]),
        "cgroup_id": rec.cg.id,
        "cgroup_path": rec.cg.name,
        # Arguments can hold secrets (--db-password=...): without buffers, only
        # the program's name, as argv is left out of the records too.
        "command": cmd[:1] if args.no_buffers else cmd,
        "exit_status": status,
        "runtime": "traceloop-record",
    }
    made = rec.writer(triggers, container)
    if made is None:
        print("traceloop: the command made no recorded system call", file=sys.stderr)
        return None
    write, _ = made
    named = headline(triggers, pid)
    name = DumpName(
        time=named.time,
        reason=named.reason,
        id=f"{socket.gethostname()}-{os.getpid()}-{rec.cg.id}",
        container=str(container["name"]),
    )
    s3 = args.sink.startswith("s3://")
    local = Path(args.spool if s3 else args.sink.removeprefix("file://"))
    handover = Handover(owner, [local]) if owner is not None else None
    sink = make_sink(args.sink, **s3_options_from(args))
    try:
        location = sink.store(name, write)
    finally:
        sink.close()  # S3: waits up to --upload-timeout
        if handover is not None:
            _hand_over(handover)
    if s3:
        from sidecar.sinks import s3 as s3sink

        # Not uploaded in time: named by its spool path, and said so.
        location = s3sink.settle(sink, location)
    return location


def _hand_over(handover: Handover) -> None:
    try:
        handover.give_created()
    except OSError as e:
        print(
            f"traceloop: warning: cannot give the dumps to uid {handover.owner.uid}: "
            f"{e.strerror or e}",
            file=sys.stderr,
        )


def _report(
    args: argparse.Namespace, path: str | None, triggers: list[Trigger], status: int
) -> None:
    if path is None:
        return
    why = ", ".join(sorted({t.reason for t in triggers})) or "requested"
    if not args.quiet:
        print(f"traceloop: dump written to {path} ({why})", file=sys.stderr)
    gha = args.github_annotations
    on_gha = gha == "always" or (gha == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")
    if on_gha and (status != 0 or triggers):
        print(f"::error title=traceloop dump::{why}: the system calls before it are in {path}")
