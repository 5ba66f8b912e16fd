"""Container slots handed out from userspace (Kernel.adopt), the kernel's record of
a cgroup's path, and the containers a full table leaves out (issue 11), on the
real kernel side."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from bpfutil import child_cgroup, dump, run_in, watched_parent
from waits import wait_until

from sidecar.dump.records import CAPS
from sidecar.host import cgroups
from sidecar.kernel.layout import Settings
from sidecar.kernel.loader import Kernel
from sidecar.model.kernel_events import SIGNALED, Event, EventType

pytestmark = pytest.mark.bpf

SMALL = Settings(containers=2, memory=32 << 20)
# A process that makes a call every few milliseconds, in one thread, for long.
TICKER = "import os, time\nwhile True:\n    os.getppid()\n    time.sleep(0.005)\n"


def _events(k: Kernel) -> list[Event]:
    got: list[Event] = []
    k.on_event(got.append)
    return got


def _poll(k: Kernel) -> None:
    for _ in range(3):
        k.poll(50)


def _polled(k: Kernel, evs: list[Event]) -> bool:
    k.poll(50)
    return bool(evs)


def test_a_cgroup_adopted_from_userspace_records_its_first_call(tmp_path: Path) -> None:
    with watched_parent(SMALL) as (k, parent):
        evs = _events(k)
        cg = child_cgroup(parent)
        got = k.adopt(cg.id)
        assert got is not None
        slab, gen = got
        assert k.cgroups() == {cg.id: slab} and k.adopt(cg.id) == (slab, gen)
        assert run_in(cg, ["cat", "/adopted-marker"]).returncode == 1
        _poll(k)
        # The kernel found the cgroup adopted: no second slot, no new-slab event.
        assert not [e for e in evs if e.type == EventType.NEW_SLAB]
        _, recs = dump(k, cg, tmp_path)
        assert b"/adopted-marker" in {c[2] for r in recs for c in r[CAPS]}


def test_adopting_what_the_kernel_adopted_first_takes_no_second_slot() -> None:
    with watched_parent(SMALL) as (k, parent):
        first = child_cgroup(parent)
        run_in(first, ["true"])  # the kernel adopts it at its first call
        assert list(k.cgroups()) == [first.id]
        slab = k.cgroups()[first.id]
        assert k.adopt(first.id) == (slab, int(k.meta[slab]["gen"]))
        # One slot is left, and only one.
        assert k.adopt(child_cgroup(parent).id) is not None
        assert k.adopt(child_cgroup(parent).id) is None


def test_adoption_racing_the_kernel_gives_one_slot_per_cgroup() -> None:
    """A process starts calling in a new cgroup while userspace adopts it: one of
    them wins, its calls go to the slot adopt() returns, and the loser's slot
    goes back (after 10 rounds, exactly the other 6 of 16 slots are free)."""
    with watched_parent(Settings(containers=16, memory=32 << 20)) as (k, parent):
        for _ in range(10):
            cg = child_cgroup(parent)
            p = subprocess.Popen([sys.executable, "-c", TICKER], preexec_fn=_join(cg))
            try:
                got = k.adopt(cg.id)
                assert got is not None
                slab = got[0]
                wait_until(partial(_calls, k, slab), what="calls recorded")
                assert k.cgroups()[cg.id] == slab
            finally:
                p.kill()
                p.wait()
        free = [k.adopt(child_cgroup(parent).id) for _ in range(7)]
        assert [g is not None for g in free] == [True] * 6 + [False]


def _join(cg: cgroups.Cgroup) -> Callable[[], None]:
    return lambda: cgroups.join(cg)


def _calls(k: Kernel, slab: int) -> bool:
    return k.usage(slab)["calls"] > 0


def test_a_container_left_out_is_reported_once_and_recorded_once_a_slot_frees() -> None:
    """With the per-thread decision cache, a thread refused a slot must not keep
    that as its decision: the slot freed later takes it in."""
    with watched_parent(Settings(containers=1, memory=32 << 20), decision_cache="emulated") as (
        k,
        parent,
    ):
        evs = _events(k)
        holder = child_cgroup(parent)
        got = k.adopt(holder.id)
        assert got is not None
        late = child_cgroup(parent)
        with k.migrating():  # the child moves itself into the cgroup: the hook's part
            p = subprocess.Popen(
                [sys.executable, "-c", TICKER], preexec_fn=lambda: cgroups.join(late)
            )
        try:
            wait_until(partial(_polled, k, evs), what="the table-full report")
            time.sleep(0.5)  # a hundred calls more, each refused
            _poll(k)
            full = [e for e in evs if e.type == EventType.TABLE_FULL]
            assert [e.cgroup for e in full] == [late.id]  # once, however many calls
            k.release(holder.id, got[0])
            wait_until(lambda: late.id in k.cgroups(), timeout=5, what="the late one adopted")
        finally:
            p.kill()
            p.wait()


def test_the_ends_of_a_container_left_out_are_reported_with_their_status() -> None:
    with watched_parent(Settings(containers=1, memory=32 << 20)) as (k, parent):
        evs = _events(k)
        assert k.adopt(child_cgroup(parent).id) is not None
        out = child_cgroup(parent)
        k.leave_out(out.id)
        assert run_in(out, ["sh", "-c", "exit 7"]).returncode == 7
        assert run_in(out, ["sh", "-c", "kill -SEGV $$"]).returncode == -11
        _poll(k)
        ends = [e.code for e in evs if e.type == EventType.UNRECORDED_EXIT and e.cgroup == out.id]
        assert ends == [7, SIGNALED | 11]
        # Not reported for a cgroup that is merely unrecorded (a host's).
        other = child_cgroup(parent)
        k.ignore(other.id)
        run_in(other, ["sh", "-c", "exit 7"])
        _poll(k)
        assert not [e for e in evs if e.cgroup == other.id]


def test_the_kernel_reads_a_cgroups_path_when_it_adopts_it() -> None:
    with watched_parent(SMALL) as (k, parent):
        evs = _events(k)
        deep = cgroups.create(cgroups.create(cgroups.create(parent, "a"), "b b"), "c\x1bc")
        long = cgroups.create(parent, "n" * 130)  # longer than the kernel reads: not whole
        try:
            for cg in (deep, long):
                run_in(cg, ["true"])
            _poll(k)
            news = {e.cgroup: e for e in evs if e.type == EventType.NEW_SLAB}
            e = news[deep.id]
            assert k.path_names(e.slab, e.gen, deep.id) == [b"a", b"b b", b"c\x1bc"]
            assert k.path_names(e.slab, e.gen + 1, deep.id) is None  # another incarnation
            e = news[long.id]
            assert k.path_names(e.slab, e.gen, long.id) is None
        finally:
            for path in (deep.path, deep.path.parent, deep.path.parent.parent, long.path):
                for _ in range(50):  # a cgroup is freed a moment after its processes end
                    if cgroups.remove(cgroups.Cgroup(path, parent.mount)):
                        break
                    time.sleep(0.02)
