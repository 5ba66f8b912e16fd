"""`traceloop record -- CMD`: run one command under the recorder (CI crash capture).

CMD runs in a fresh cgroup v2; the kernel side records it from its execve on.
When CMD (or any process it started) exits nonzero, dies of a fatal signal or
is OOM-killed, the window is written to --out. The exit status is CMD's own
(128 + signal number when a signal killed it).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from typing import Any

from sidecar.cli.options import add_recorder_options, settings_from
from sidecar.cli.s3options import add_s3_options, s3_options_from
from sidecar.dump.naming import DumpName
from sidecar.host import cgroups
from sidecar.kernel.loader import Kernel, KernelConfig
from sidecar.kernel.recorder import Recorder
from sidecar.kernel.syscalls import load_table
from sidecar.model.clock import boot_offset_ns, time_boot_ns
from sidecar.model.errors import TraceloopError, UsageError
from sidecar.model.kernel_events import Event, EventType, Reason
from sidecar.model.trigger import Trigger
from sidecar.sinks.registry import make_sink
from triggers.command import command_ended
from triggers.kernel import trigger_from_event

KERNEL_TRIGGERS = Reason.NONZERO_EXIT | Reason.FATAL_SIGNAL | Reason.OOM_KILL


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
        "--github-annotations",
        choices=["auto", "always", "never"],
        default="auto",
        help="print a ::error annotation naming the dump (auto: when GITHUB_ACTIONS=true)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_recorder_options(p)
    # CI keeps ./traceloop-dumps as an artifact: a dump the store did not take
    # in time stays there. Importing s3config does not import boto3.
    add_s3_options(p, spool_default="./traceloop-dumps/spool", upload_timeout_default=30.0)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cmd = list(args.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise UsageError("record: no command given (usage: traceloop record [OPTIONS] -- CMD ...)")
    settings = settings_from(args)
    table = load_table()
    root = cgroups.resolve_root(None)
    parent = cgroups.create(root, "traceloop")
    cg = cgroups.create(parent, f"record-{os.getpid()}")
    kernel = Kernel(
        KernelConfig(
            settings,
            root_id=cg.id,
            root_level=cg.level,
            adopt_root=True,
            triggers=int(KERNEL_TRIGGERS),
            # A CI command's children fail routinely (grep -q, test -f): the
            # window should end where the command ends, so record collects
            # triggers without freezing and freezes when CMD is done.
            freeze_on_trigger=False,
        ),
        table,
    )
    offset = boot_offset_ns()
    triggers: list[Trigger] = []

    def on_event(ev: Event) -> None:
        if ev.type == EventType.TRIGGER and ev.cgroup == cg.id:
            triggers.append(trigger_from_event(ev, offset))

    kernel.on_event(on_event)
    try:
        status = _run_child(cmd, cg, kernel)
        kernel.poll(0)
        path = None
        if triggers or status != 0 or args.always:
            path = _dump(args, kernel, cg, cmd, triggers, status, offset)
        _report(args, path, triggers, status)
        return status
    finally:
        kernel.close()
        cgroups.remove(cg)


def _run_child(cmd: list[str], cg: cgroups.Cgroup, kernel: Kernel) -> int:
    def enter_cgroup() -> None:
        cgroups.join(cg)

    # The terminal's Ctrl-C reaches the child directly; we stay to dump.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    fwd = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        try:
            child = subprocess.Popen(cmd, preexec_fn=enter_cgroup)
        except FileNotFoundError:
            raise TraceloopError(f"record: command not found: {cmd[0]}") from None
        except PermissionError:
            raise TraceloopError(f"record: permission denied: {cmd[0]}") from None
        except subprocess.SubprocessError as e:
            raise TraceloopError(f"record: cannot start {cmd[0]}: {e}") from None
        while child.poll() is None:
            kernel.poll(50)
    finally:
        signal.signal(signal.SIGINT, old)
        signal.signal(signal.SIGTERM, fwd)
    rc = child.returncode
    return 128 - rc if rc < 0 else rc


def _dump(
    args: argparse.Namespace,
    kernel: Kernel,
    cg: cgroups.Cgroup,
    cmd: list[str],
    triggers: list[Trigger],
    status: int,
    offset: int,
) -> str | None:
    slab = kernel.cgroups().get(cg.id)
    if slab is None:
        print("traceloop: the command made no recorded system call", file=sys.stderr)
        return None
    kernel.freeze(slab)
    if not triggers:
        triggers = [command_ended(status, time_boot_ns(), offset)]
    container = {
        "name": os.path.basename(cmd[0]),
        "cgroup_id": cg.id,
        "cgroup_path": cg.name,
        "command": cmd,
        "exit_status": status,
        "runtime": "traceloop-record",
    }
    name = DumpName(
        time=triggers[0].time,
        reason=triggers[0].reason,
        id=f"{socket.gethostname()}-{os.getpid()}-{cg.id}",
        container=str(container["name"]),
    )
    sink = make_sink(args.sink, **s3_options_from(args))
    try:
        location = sink.store(name, Recorder(kernel).writer(slab, triggers, container))
    finally:
        sink.close()  # S3: waits up to --upload-timeout
    if args.sink.startswith("s3://"):
        from sidecar.sinks import s3

        # Not uploaded in time: named by its spool path, and said so.
        location = s3.settle(sink, location)
    return location


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
