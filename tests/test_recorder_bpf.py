"""The kernel side on a real kernel, with real processes in real cgroups."""

from __future__ import annotations

import errno
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from bpfutil import child_cgroup, dump, names, run_in, table, watched_parent

from sidecar.dump.captures import Kind
from sidecar.dump.records import ARGS, CAPS, COMM, DUR, NR, PID, RET, SEQ, SIGNAL, TID
from sidecar.host import cgroups
from sidecar.kernel import loader
from sidecar.kernel.layout import Settings
from sidecar.kernel.recorder import Recorder
from sidecar.kernel.slab import read_slab, to_records
from sidecar.model.errors import TraceloopError, UsageError

pytestmark = pytest.mark.bpf


def caps_of(rec: list[Any]) -> dict[int, tuple[int, bytes, int]]:
    return {c[0]: (c[1], c[2], c[3]) for c in rec[CAPS]}


@pytest.fixture(params=["btf-walk", "helpers"])
def task_access(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> str:
    """How the kernel side reads the task's cgroup id, pid and comm: direct
    loads at BTF offsets (this kernel has them), or, on a kernel whose BTF
    lacks them (here: a BTF file that is not one), the helpers."""
    if request.param == "helpers":
        bogus = tmp_path / "not-btf"
        bogus.write_bytes(b"\0" * 64)
        monkeypatch.setenv("TRACELOOP_VMLINUX_BTF", str(bogus))
        monkeypatch.setattr(loader, "_warned_no_walk", False)
    caplog.set_level(logging.WARNING, logger="traceloop.kernel")
    return str(request.param)


def check_task_access(k: loader.Kernel, how: str, caplog: pytest.LogCaptureFixture) -> None:
    said = [r for r in caplog.records if "BTF" in r.getMessage()]
    if how == "btf-walk":
        assert k.task_walk is not None and said == []
    else:
        assert k.task_walk is None and len(said) == 1


def test_known_calls_in_order_with_strings_buffers_sockaddr_and_errno(
    progs: Path, tmp_path: Path, task_access: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "existing.txt"
    target.write_text("root:x:0:0 known content\n")
    with watched_parent(Settings()) as (k, parent):
        check_task_access(k, task_access, caplog)
        cg = child_cgroup(parent)
        res = run_in(cg, [str(progs / "known_calls"), str(target)])
        assert res.returncode == 3
        header, recs = dump(k, cg, tmp_path / "d")
    mine = [r for r in recs if r[PID] == recs[-1][PID]]
    # The program's own story, from its execve to its exit_group (before the
    # execve: the forked child's set-up in Python, also recorded).
    start = next(i for i, r in enumerate(mine) if table().name(r[NR]) == "execve" and r[RET] == 0)
    seq = mine[start:]
    n = names(seq)
    assert caps_of(seq[0])[0][1] == str(progs / "known_calls").encode()
    assert n[-1] == "exit_group" and seq[-1][ARGS][0] == 3 and seq[-1][RET] is None
    # Positions in the program's story, by path for the two opens.
    opened = {caps_of(r)[1][1]: i for i, r in enumerate(seq) if n[i] == "openat"}
    existing, missing = opened[str(target).encode()], opened[b"/traceloop/does-not-exist"]
    assert seq[existing][RET] >= 0
    assert seq[missing][RET] == -errno.ENOENT
    read = next(r for r in seq if table().name(r[NR]) == "read" and r[ARGS][0] >= 3)
    kind, data, full = caps_of(read)[1]
    assert kind == Kind.BUF_OUT and data == b"root:x:0:0 known content\n" and full == len(data)
    write = next(r for r in seq if table().name(r[NR]) == "write")
    assert caps_of(write)[1][:2] == (Kind.BUF_IN, b"hello from traceloop\n")
    conn = next(r for r in seq if table().name(r[NR]) == "connect")
    assert conn[RET] == -errno.ECONNREFUSED
    kind, sa, _ = caps_of(conn)[1]
    assert kind == Kind.SA_IN
    assert int.from_bytes(sa[0:2], "little") == socket.AF_INET
    assert int.from_bytes(sa[2:4], "big") == 9 and sa[4:8] == bytes([127, 0, 0, 1])
    # Order: open existing < open missing < write < connect < exit, each once.
    order = [existing, missing, n.index("write"), n.index("connect"), len(n) - 1]
    assert order == sorted(set(order)), order  # strictly increasing
    assert [n.count(c) for c in ("write", "connect", "exit_group")] == [1, 1, 1], n
    assert [r[SEQ] for r in recs] == sorted(r[SEQ] for r in recs)
    assert all(r[DUR] is not None for r in seq[:-1])
    assert header["counts"]["overwritten"] == 0
    # Whose calls they are: the program's pid and name (read from the task).
    assert {(r[PID], r[TID], r[COMM]) for r in seq[1:]} == {(mine[-1][PID],) * 2 + ("known_calls",)}


def test_wraparound_keeps_exactly_the_newest_calls(progs: Path, tmp_path: Path) -> None:
    slots, calls, first = 64, 5000, 100000
    with watched_parent(Settings(slots=slots, syscall_filters=("close", "exit_group"))) as (
        k, parent,
    ):  # fmt: skip
        cg = child_cgroup(parent)
        assert run_in(cg, [str(progs / "closeloop"), str(first), str(calls)]).returncode == 0
        header, recs = dump(k, cg, tmp_path / "d")
    assert len(recs) == slots
    assert names(recs)[-1] == "exit_group"
    closes = [r[ARGS][0] for r in recs if table().name(r[NR]) == "close"]
    # The newest 63 close() calls of the loop, in order, nothing else.
    assert closes[-(slots - 1) :] == list(range(first + calls - (slots - 1), first + calls))
    assert all(r[RET] == -errno.EBADF for r in recs[:-1] if r[ARGS][0] >= first)
    total = header["counts"]["total"]
    assert header["counts"]["overwritten"] == total - slots
    assert total >= calls + 1


def test_other_cgroups_never_appear(
    progs: Path, tmp_path: Path, task_access: str, caplog: pytest.LogCaptureFixture
) -> None:
    with watched_parent(Settings()) as (k, parent):
        check_task_access(k, task_access, caplog)
        a, b = child_cgroup(parent), child_cgroup(parent)
        pa = run_in(a, ["sh", "-c", "echo $$; cat /nonexistent-a"])
        pb = run_in(b, ["sh", "-c", "echo $$; cat /nonexistent-b"])
        outside = subprocess.run(["cat", "/nonexistent-outside"], capture_output=True)
        assert outside.returncode != 0
        _, ra = dump(k, a, tmp_path / "a")
        _, rb = dump(k, b, tmp_path / "b")
    pid_a, pid_b = int(pa.stdout), int(pb.stdout)
    assert pid_a in {r[PID] for r in ra} and pid_b not in {r[PID] for r in ra}
    assert pid_b in {r[PID] for r in rb} and pid_a not in {r[PID] for r in rb}
    paths_a = {c[2] for r in ra for c in r[CAPS]}
    assert b"/nonexistent-a" in paths_a
    assert not {b"/nonexistent-b", b"/nonexistent-outside"} & paths_a


def test_syscall_filter_records_only_named_calls(tmp_path: Path) -> None:
    with watched_parent(Settings(syscall_filters=("openat", "write"))) as (k, parent):
        cg = child_cgroup(parent)
        run_in(cg, ["sh", "-c", "cat /etc/hostname /nonexistent; echo done"])
        _, recs = dump(k, cg, tmp_path / "d")
    # exit_group is recorded whatever the filter: the exit triggers need it;
    # signals are not calls, and the filter does not choose them (sh's SIGCHLD).
    calls = [r for r in recs if r[NR] != SIGNAL]
    assert set(names(calls)) == {"openat", "write", "exit_group"}
    assert b"/etc/hostname" in {c[2] for r in recs for c in r[CAPS]}


def test_calls_without_arguments_record_no_registers(tmp_path: Path) -> None:
    """getppid takes no arguments: its registers are not read (they would be
    whatever the caller left there); close's one argument is."""
    code = "import os\nfor _ in range(3): os.getppid()\n"
    code += "try: os.close(4242)\nexcept OSError: pass\nprint(os.getpid())\n"
    with watched_parent(Settings(syscall_filters=("getppid", "close"))) as (k, parent):
        cg = child_cgroup(parent)
        res = run_in(cg, ["python3", "-c", code])
        _, recs = dump(k, cg, tmp_path / "d")
    pid = int(res.stdout)
    mine = [r for r in recs if r[PID] == pid]
    getppids = [r for r in mine if table().name(r[NR]) == "getppid"]
    assert len(getppids) >= 3
    assert all(r[ARGS] == [0] * 6 and r[RET] == os.getpid() for r in getppids)
    closes = [r for r in mine if table().name(r[NR]) == "close" and r[ARGS][0] == 4242]
    assert len(closes) == 1 and closes[0][RET] == -errno.EBADF


def test_short_lived_process_keeps_its_execve(progs: Path, tmp_path: Path) -> None:
    with watched_parent(Settings()) as (k, parent):
        cg = child_cgroup(parent)
        assert run_in(cg, [str(progs / "quickfail")]).returncode == 7
        _, recs = dump(k, cg, tmp_path / "d")
    n = names(recs)
    execs = [r for r in recs if table().name(r[NR]) == "execve" and r[RET] == 0]
    assert execs and caps_of(execs[-1])[0][1] == str(progs / "quickfail").encode()
    assert n[-1] == "exit_group" and recs[-1][ARGS][0] == 7


def test_live_reads_never_yield_torn_records(progs: Path) -> None:
    settings = Settings(slots=256, syscall_filters=("write",))
    with watched_parent(settings) as (k, parent):
        cg = child_cgroup(parent)
        proc = subprocess.Popen([str(progs / "writer")], preexec_fn=lambda: _join(cg))
        try:
            deadline = time.monotonic() + 10
            while cg.id not in k.cgroups() and time.monotonic() < deadline:
                time.sleep(0.01)
            slab = k.cgroups()[cg.id]
            checked = 0
            for _ in range(300):
                read = read_slab(k.meta[slab], k.chunks, k.chunkhdrs)
                for r in to_records(read, k.kinds):
                    n = r[ARGS][2]
                    _kind, data, full = caps_of(r)[1]
                    # The buffer's content is fixed by its length: a torn slot
                    # (header of one call, data of another) cannot pass this.
                    assert full == n and data == bytes([ord("A") + n % 26]) * min(n, 128)
                    checked += 1
        finally:
            proc.kill()
            proc.wait()
    assert checked > 10000


def _join(cg: object) -> None:
    assert isinstance(cg, cgroups.Cgroup)
    cgroups.join(cg)


def test_slabs_return_to_the_free_list_and_full_table_is_counted(tmp_path: Path) -> None:
    with watched_parent(Settings(containers=2)) as (k, parent):
        cgs = [child_cgroup(parent) for _ in range(3)]
        for cg in cgs:
            run_in(cg, ["true"])
        assert len(k.cgroups()) == 2
        assert k.stats()["table_full"] > 0
        # The third container got nothing; free one slab and it is recorded.
        first = cgs[0]
        k.release(first.id, k.cgroups()[first.id])
        run_in(cgs[2], ["sh", "-c", "cat /marker-after-release"])
        _, recs = dump(k, cgs[2], tmp_path / "d")
    assert b"/marker-after-release" in {c[2] for r in recs for c in r[CAPS]}


def test_ignored_cgroups_are_never_recorded_before_or_after_adoption(tmp_path: Path) -> None:
    with watched_parent(Settings(containers=2)) as (k, parent):
        early, late, other = (child_cgroup(parent) for _ in range(3))
        k.ignore(early.id)  # as the daemon does for host cgroups it finds at start
        run_in(early, ["sh", "-c", "cat /marker-early"])
        run_in(late, ["true"])
        assert early.id not in k.cgroups() and late.id in k.cgroups()
        slab = k.cgroups()[late.id]
        k.ignore(late.id)  # as the daemon does once it names a new cgroup a non-container
        made = k.usage(slab)["calls"]
        for _ in range(2):
            run_in(late, ["sh", "-c", "cat /marker-late"])
        assert k.usage(slab)["calls"] == made  # nothing more went into its old slot
        run_in(other, ["sh", "-c", "cat /marker-other"])
        assert set(k.cgroups()) == {other.id}  # late's slab went back and served other
        _, recs = dump(k, other, tmp_path / "d")
    assert {c[2] for r in recs for c in r[CAPS]} & {
        b"/marker-early",
        b"/marker-late",
        b"/marker-other",
    } == {b"/marker-other"}


# 1 bucket: the first thread takes the fast path, every other one the
# task-storage path, with the exit filter told to look ("any").
BUCKETS = [pytest.param(16384, id="own-buckets"), pytest.param(1, id="shared-bucket")]


@pytest.mark.parametrize("buckets", BUCKETS)
def test_concurrent_threads_pair_exactly(tmp_path: Path, buckets: int) -> None:
    """Threads' calls interleave; each exit fills in its own call's slot.

    Thread i reads /dev/zero with its own length L_i, so read() returns L_i:
    an exit paired with another thread's slot would show the wrong value.
    """
    settings = Settings(syscall_filters=("read",))
    with watched_parent(settings, thread_buckets=buckets) as (k, parent):
        cg = child_cgroup(parent)
        code = (
            "import os,threading\n"
            "def f(n):\n"
            "    fd=os.open('/dev/zero',os.O_RDONLY)\n"
            "    for _ in range(300): os.read(fd,n)\n"
            "ts=[threading.Thread(target=f,args=(1000+i,)) for i in range(6)]\n"
            "[t.start() for t in ts];[t.join() for t in ts]\n"
        )
        assert run_in(cg, ["python3", "-c", code]).returncode == 0
        _, recs = dump(k, cg, tmp_path / "d")
    zero_reads = [r for r in recs if 1000 <= r[ARGS][2] < 1006]
    assert len(zero_reads) == 1800
    assert len({r[5] for r in zero_reads}) == 6  # six threads
    assert all(r[RET] == r[ARGS][2] and r[DUR] > 0 for r in zero_reads)


def test_threads_racing_across_chunk_switches_lose_no_call(tmp_path: Path) -> None:
    """Eight threads on two CPUs fill one container's chunks together, so
    several reach a full chunk at once: every call is still recorded, once,
    paired with its own return."""
    settings = Settings(slots=32768, syscall_filters=("read",))
    with watched_parent(settings) as (k, parent):
        cg = child_cgroup(parent)
        code = (
            "import os,threading\n"
            "def f(n):\n"
            "    fd=os.open('/dev/zero',os.O_RDONLY)\n"
            "    for _ in range(2000): os.read(fd,n)\n"
            "ts=[threading.Thread(target=f,args=(1000+i,)) for i in range(8)]\n"
            "[t.start() for t in ts];[t.join() for t in ts]\n"
        )
        assert run_in(cg, ["python3", "-c", code]).returncode == 0
        stats = k.stats()
        _, recs = dump(k, cg, tmp_path / "d")
    zero_reads = [r for r in recs if 1000 <= r[ARGS][2] < 1008]
    assert stats["no_chunk"] == 0
    assert len(zero_reads) == 16000
    assert all(r[RET] == r[ARGS][2] and r[DUR] > 0 for r in zero_reads)
    assert len({r[SEQ] for r in recs}) == len(recs)


@pytest.mark.parametrize("buckets", BUCKETS)
def test_comm_follows_exec_prctl_and_threads(
    progs: Path, tmp_path: Path, buckets: int, task_access: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The recorder caches each thread's name (helpers) or reads it from the
    task (BTF walk): it must still be the right one."""
    with watched_parent(Settings(), thread_buckets=buckets) as (k, parent):
        check_task_access(k, task_access, caplog)
        cg = child_cgroup(parent)
        assert run_in(cg, [str(progs / "renamer")]).returncode == 0
        _, recs = dump(k, cg, tmp_path / "d")
    closes = {r[ARGS][0]: r for r in recs if table().name(r[NR]) == "close"}
    comm_of = {first: {closes[first + i][COMM] for i in range(100)} for first in (1000, 2000, 3000)}
    assert comm_of == {1000: {"renamer"}, 2000: {"tl-renamed"}, 3000: {"tl-worker"}}
    assert closes[3000][TID] != closes[2000][TID]
    assert all(closes[a][RET] == -errno.EBADF for a in closes if a >= 1000)


@pytest.mark.parametrize("filters", [(), ("close",)], ids=["all-calls", "exit-not-recorded"])
def test_ending_threads_give_their_fast_path_buckets_back(
    progs: Path, filters: tuple[str, ...]
) -> None:
    """exit and exit_group hand a thread's bucket back, recorded or not; a
    bucket kept by a dead thread would push new threads to the slow path."""
    with watched_parent(Settings(syscall_filters=filters)) as (k, parent):
        cg = child_cgroup(parent)
        for _ in range(3):
            assert run_in(cg, [str(progs / "renamer")]).returncode == 0
        owned = [x.regs for x in k.bpf[b"xthreads"].values() if x.regs]
        assert cg.id in k.cgroups() and owned == []


def test_a_thousand_containers_at_once_each_from_its_first_call(
    progs: Path, tmp_path: Path
) -> None:
    """The default budget records 1,000 cgroups at once, every one from its
    first call, and dumps any of them whole."""
    n = 1000
    with watched_parent(Settings()) as (k, parent):
        cgs = [child_cgroup(parent) for _ in range(n)]
        for i, cg in enumerate(cgs):
            # Calls that tell the cgroups apart: close(i * 10 + 1_000_000), three times.
            assert (
                run_in(cg, [str(progs / "closeloop"), str(1_000_000 + i * 10), "3"]).returncode == 0
            )
        one = cgs[n // 2]
        target = tmp_path / "existing.txt"
        target.write_text("known content\n")
        assert run_in(one, [str(progs / "known_calls"), str(target)]).returncode == 3
        assert set(k.cgroups()) == {cg.id for cg in cgs}
        stats = k.stats()
        assert stats["table_full"] == 0 and stats["no_chunk"] == 0
        # Each one holds a single chunk: nothing else was needed.
        assert all(k.usage(k.cgroups()[cg.id])["chunks"] == 1 for cg in cgs if cg is not one)
        for i, cg in enumerate(cgs):
            if i % 50 == 0 or cg is one:
                header, recs = dump(k, cg, tmp_path / f"d{i}")
                counts = header["counts"]
                assert counts["overwritten"] == 0 and counts["incomplete"] == 0
                assert recs[0][SEQ] == 1 and len(recs) == counts["total"]
                closes = [r[ARGS][0] for r in recs if table().name(r[NR]) == "close"]
                assert [c for c in closes if c >= 1_000_000] == [
                    1_000_000 + i * 10 + j for j in range(3)
                ]
        # The one that went on: its closeloop, then the known program's whole story.
        header, recs = dump(k, one, tmp_path / "one")
    n_one = names(recs)
    execs = [i for i, name in enumerate(n_one) if name == "execve"]
    assert len(execs) == 2 and n_one[-1] == "exit_group" and recs[-1][ARGS][0] == 3
    paths = {c[2] for r in recs for c in r[CAPS]}
    assert str(target).encode() in paths and b"/traceloop/does-not-exist" in paths
    assert [r[SEQ] for r in recs] == list(range(1, len(recs) + 1))


def test_a_busy_container_keeps_its_window_with_captures(progs: Path, tmp_path: Path) -> None:
    """Far more calls than the window: the newest `slots` calls stay, whole,
    and the container's memory grew only as far as that window needs."""
    calls = 40_000
    with watched_parent(Settings()) as (k, parent):
        cg = child_cgroup(parent)
        code = (
            "import os\n"
            "fd = os.open('/dev/null', os.O_WRONLY)\n"
            f"for i in range({calls}):\n"
            "    os.write(fd, b'%06d' % i)\n"
        )
        assert run_in(cg, ["python3", "-c", code]).returncode == 0
        slab = k.cgroups()[cg.id]
        held = k.usage(slab)["chunks"]
        recycled = k.stats()["chunks_recycled"]
        header, recs = dump(k, cg, tmp_path / "d")
    s = Settings()
    assert len(recs) == s.slots
    assert [r[SEQ] for r in recs] == list(range(recs[0][SEQ], recs[0][SEQ] + s.slots))
    writes = [r for r in recs if table().name(r[NR]) == "write" and r[ARGS][2] == 6]
    # The loop's last writes, each with the bytes it wrote.
    assert len(writes) > s.slots - 200
    got = [int(caps_of(r)[1][1]) for r in writes]
    assert got == list(range(calls - len(writes), calls))
    assert header["counts"]["overwritten"] == header["counts"]["total"] - s.slots
    # 4,096 writes of 6 bytes: 136 bytes a call, 60 to a chunk; a few chunks
    # more than that, never the window of the heaviest calls.
    assert s.slots * 136 // s.chunk <= held <= s.slots * 136 // s.chunk + 6
    assert recycled > 0


def _tight(memory: int, slots: int, spare: int) -> Settings:
    """A budget where only about `spare` chunks are left beyond the floors."""
    lo, hi = 1, 16384
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            ok = Settings(memory=memory, slots=slots, containers=mid).spare >= spare
        except UsageError:
            ok = False
        lo, hi = (mid, hi) if ok else (lo, mid - 1)
    return Settings(memory=memory, slots=slots, containers=lo)


def test_every_container_keeps_its_floor_whatever_the_others_do(
    progs: Path, tmp_path: Path
) -> None:
    """Four busy containers want more chunks than the whole pool holds; they
    share the spare ones, and a container that gets busy after them still
    keeps its last 256 calls (its floor)."""
    s = _tight(16 << 20, 16384, 40)
    window_need = 16384 // (s.chunk // 128) + 1
    assert 4 * window_need > s.nchunks  # unbounded, the four would take every chunk
    with watched_parent(s) as (k, parent):
        hogs = [child_cgroup(parent) for _ in range(4)]
        for i, hog in enumerate(hogs):
            first = 100_000 * (i + 1)
            assert run_in(hog, [str(progs / "closeloop"), str(first), "30000"]).returncode == 0
        held = [k.usage(k.cgroups()[h.id])["chunks"] for h in hogs]
        assert k.pool()["beyond_floors"] == s.spare
        late = child_cgroup(parent)
        assert run_in(late, [str(progs / "closeloop"), "900000", "5000"]).returncode == 0
        _, hog_recs = dump(k, hogs[0], tmp_path / "hog")
        _, late_recs = dump(k, late, tmp_path / "late")
        assert k.stats()["no_chunk"] == 0
    assert sum(held) == 4 * s.floor + s.spare and min(held) >= s.floor
    rpc = s.chunk // 128
    hog_closes = [r[ARGS][0] for r in hog_recs if table().name(r[NR]) == "close"]
    assert len(hog_closes) >= (held[0] - 1) * rpc - 10
    assert hog_closes[-10:] == list(range(129_990, 130_000))
    late_closes = [r[ARGS][0] for r in late_recs if table().name(r[NR]) == "close"]
    assert 256 <= len(late_closes) <= s.floor * rpc
    n = len(late_closes)
    assert late_closes == list(range(905_000 - n, 905_000))


def test_a_slot_reused_by_another_container_is_never_dumped_as_the_first(
    tmp_path: Path,
) -> None:
    """A dump belongs to one container: a slot released and adopted by the
    next cgroup is refused to a freeze or read for the first one."""
    with watched_parent(Settings(containers=1)) as (k, parent):
        a, b = child_cgroup(parent), child_cgroup(parent)
        run_in(a, ["true"])
        slab = k.cgroups()[a.id]
        gen = int(k.meta[slab]["gen"])
        k.release(a.id, slab)
        run_in(b, ["sh", "-c", "cat /marker-b"])
        assert k.cgroups() == {b.id: slab}
        assert not k.freeze(slab, gen)
        with pytest.raises(TraceloopError, match="reused"):
            Recorder(k).snapshot(slab, gen)
        assert k.freeze(slab, gen + 1)
        snap = Recorder(k).snapshot(slab, gen + 1)
    assert b"/marker-b" in {c[2] for r in snap.records for c in r[CAPS]}


def _bpf_maps() -> dict[int, int]:
    """map id -> memlock of every BPF map this process holds (/proc/self/fdinfo)."""
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:bpf-map":
                continue
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        info = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        out[int(info["map_id"])] = int(info["memlock"])
    return out


def test_the_maps_stay_within_the_memory_budget() -> None:
    """What the kernel charges for all the maps of a loaded recorder (their
    memlock, as bench/run.py memory reads it) is within --memory, and most
    of it is the pool."""
    s = Settings(memory=64 << 20)
    before = _bpf_maps()
    with watched_parent(s):
        mine = {i: m for i, m in _bpf_maps().items() if i not in before}
    total = sum(mine.values())
    assert s.nchunks * s.chunk <= total <= s.memory
    assert total >= 0.9 * s.memory


def test_without_a_migration_hook_the_decision_is_not_cached(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """This machine has neither kprobes nor working fentry: the per-thread
    cache of the recording decision stays off (the uncached path every other
    test here exercises), and the log says so once."""
    monkeypatch.setattr(loader, "_warned_no_hook", False)
    caplog.set_level(logging.DEBUG, logger="traceloop.kernel")
    for _ in range(2):
        with watched_parent(Settings()) as (k, _parent):
            assert k.decision_cache is None
            assert b"migr" not in {t for t in k.bpf.tables}
    said = [r for r in caplog.records if "cgroup_migrate_execute" in r.getMessage()]
    assert len(said) == 1


def _waiting_child(cg: cgroups.Cgroup | None) -> subprocess.Popen[str]:
    """A process that makes calls, then waits for a line before it closes fd 77777."""
    code = "import os,sys\nfor _ in range(3): os.getppid()\nsys.stdin.readline()\n"
    code += "try: os.close(77777)\nexcept OSError: pass\n"
    return subprocess.Popen(
        ["python3", "-c", code],
        stdin=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: cgroups.join(cg)) if cg else None,
    )


def test_the_cached_decision_follows_a_migration_it_is_told_of(tmp_path: Path) -> None:
    """The decision cache with its hook emulated (the test announces the
    migrations it makes): a thread that made calls outside the recorded
    root, then is moved into a container, is recorded from its next call;
    moved without the announcement, it keeps its cached "not recorded"
    decision, which is why the cache needs an exact hook on migration."""
    with watched_parent(Settings(), decision_cache="emulated") as (k, parent):
        assert k.decision_cache == "emulated"
        told, untold = child_cgroup(parent), child_cgroup(parent)
        with k.migrating():  # run_in's children move themselves into the cgroups
            run_in(told, ["true"])  # both cgroups have slots already
            run_in(untold, ["true"])
        procs = []
        for cg, announce in ((told, True), (untold, False)):
            p = _waiting_child(None)  # starts outside the root: "not recorded", cached
            time.sleep(0.5)
            if announce:
                with k.migrating():
                    cgroups.join(cg, p.pid)
            else:
                cgroups.join(cg, p.pid)
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
            assert p.wait(timeout=30) == 0
            procs.append(p)
        _, told_recs = dump(k, told, tmp_path / "told")
        _, untold_recs = dump(k, untold, tmp_path / "untold")
    closes = [r for r in told_recs if table().name(r[NR]) == "close" and r[ARGS][0] == 77777]
    assert len(closes) == 1 and closes[0][PID] == procs[0].pid
    assert procs[1].pid not in {r[PID] for r in untold_recs}
