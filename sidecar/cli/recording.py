"""`traceloop record`'s recording: its own cgroup and the kernel side watching it.

`Recording.start` either gives a recording whose cgroup the command can join,
or raises a TraceloopError saying why recording cannot start, and then leaves
nothing behind (no cgroup, no loaded program). `close` removes the cgroup on
every path, moving processes the command left running out of it first.
"""

from __future__ import annotations

import os
from typing import Any

from sidecar.dump.records import NR
from sidecar.dump.writer import write_dump
from sidecar.host import cgroups
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel, KernelConfig
from sidecar.kernel.recorder import Recorder
from sidecar.kernel.syscalls import load_table
from sidecar.model.clock import boot_offset_ns
from sidecar.model.errors import PermissionDeniedError
from sidecar.model.kernel_events import Event, EventType, Reason
from sidecar.model.trigger import Trigger
from sidecar.sinks.base import Writer
from triggers.kernel import note_end, trigger_from_event

PREFIX = "record-"  # and the recording process's PID: one cgroup per recording
KERNEL_TRIGGERS = Reason.NONZERO_EXIT | Reason.FATAL_SIGNAL | Reason.OOM_KILL


def from_first_exec(records: list[list[Any]], execs: set[int]) -> tuple[list[list[Any]], int]:
    """The records from the command's execve on, and how many came before it.

    The child is alone in the cgroup until it executes the command, so the
    cgroup's first execve is the command's; before it are the child's own
    calls between joining the cgroup and the execve (closing descriptors),
    which are ours, not the command's. If that execve was overwritten, so
    were they: nothing is left out.
    """
    for i, r in enumerate(records):
        if r[NR] in execs:
            return records[i:], i
    return records, 0


class Recording:
    def __init__(self, cg: cgroups.Cgroup, kernel: Kernel) -> None:
        self.cg = cg
        self.kernel = kernel
        self.offset = boot_offset_ns()
        self.triggers: list[Trigger] = []
        kernel.on_event(self._on_event)

    @classmethod
    def start(cls, settings: Settings) -> Recording:
        """Load the kernel side for a fresh cgroup; raises TraceloopError if it
        cannot (then no cgroup is left behind)."""
        if os.geteuid() != 0:
            raise PermissionDeniedError(
                "recording needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"
            )
        table = load_table()
        # Names come from this kernel's tracefs: check them before compiling.
        table.resolve(settings.syscall_filters)
        parent = cgroups.create(cgroups.resolve_root(None), "traceloop")
        sweep(parent)
        cg = cgroups.create(parent, f"{PREFIX}{os.getpid()}")
        try:
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
        except BaseException:
            cgroups.remove(cg)
            raise
        try:
            return cls(cg, kernel)
        except BaseException:
            kernel.close()
            cgroups.remove(cg)
            raise

    def _on_event(self, ev: Event) -> None:
        if ev.type == EventType.TRIGGER and ev.cgroup == self.cg.id:
            self.triggers.append(trigger_from_event(ev, self.offset))
        elif ev.type == EventType.GROUP_EXIT and ev.cgroup == self.cg.id:
            note_end(self.triggers, ev)  # whether a fatal signal dumped core

    def join(self) -> None:
        """Move the calling process into the recorded cgroup (the child, last
        thing before its execve)."""
        cgroups.join(self.cg)

    def poll(self) -> None:
        self.kernel.poll(50)

    def writer(
        self, triggers: list[Trigger], container: dict[str, Any]
    ) -> tuple[Writer, int] | None:
        """Freeze the window and snapshot it: what writes the dump, and how many
        calls it holds; None if the command made no recorded call."""
        self.kernel.poll(0)
        slab = self.kernel.cgroups().get(self.cg.id)
        if slab is None:
            return None
        self.kernel.freeze(slab)
        rec = Recorder(self.kernel)
        snap = rec.snapshot(slab)
        table = self.kernel.table.by_name
        execs = {table[n].nr for n in ("execve", "execveat") if n in table}
        snap.records, before = from_first_exec(snap.records, execs)
        header = rec.header(snap, triggers, container)
        header["counts"]["before_exec"] = before
        records = snap.records
        return (lambda f: write_dump(f, header, records)), len(records)

    def close(self) -> None:
        self.kernel.close()
        remove(self.cg)


def sweep(parent: cgroups.Cgroup) -> None:
    """Remove the cgroups of recordings that ended without removing their own
    (a `record` killed by SIGKILL or the OOM killer cannot): an empty
    `record-PID` whose PID no longer runs. A populated one (the command's
    children still running) stays, as rmdir refuses it; so does one whose
    PID runs again, whatever it now is."""
    try:
        names = [d.name for d in parent.path.iterdir() if d.name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        pid = name.removeprefix(PREFIX)
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            cgroups.remove(parent.child(name))


def remove(cg: cgroups.Cgroup) -> None:
    """Remove `cg`, first moving out what the command left running in it (a
    daemonised child) to our own cgroup: cgroup v2 cannot remove a populated one."""
    if cgroups.remove(cg) or not cg.path.exists():
        return
    try:
        own = cgroups.current()
        for pid in (cg.path / "cgroup.procs").read_text().split():
            try:
                cgroups.join(own, int(pid))
            except OSError:
                continue  # exited meanwhile
    except OSError:
        return
    cgroups.remove(cg)
