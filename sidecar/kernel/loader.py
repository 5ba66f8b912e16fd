"""The kernel side: compiling and loading bpf/recorder.bpf.c (beside this module) with bcc.

This is the only module that imports bcc. It turns bcc's bare exceptions into
`KernelError`s that say what to do, and exposes the maps as NumPy views of
their mmap-ed memory, so reading a slab costs no syscall per event.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import mmap
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from sidecar.dump.captures import ARGV_N, ENVP_N, IOV_N, MAX_CAPTURES, NO_LEN, captures_for
from sidecar.dump.syscalls import SyscallTable
from sidecar.kernel.btf import (
    BTF,
    BTFError,
    TaskOffsets,
    handler_offset,
    pending_signal_offset,
    task_offsets,
)
from sidecar.kernel.layout import HDR_DTYPE, REC_BYTES, Settings, meta_dtype
from sidecar.kernel.slab import calls_made
from sidecar.model.clock import time_boot_ns
from sidecar.model.errors import KernelError, MissingHeadersError, PermissionDeniedError
from sidecar.model.kernel_events import EVENT_SIZE, STAT_NAMES, Event

log = logging.getLogger("traceloop.kernel")

IGNORED = 0xFFFFFFFF
CG_FIXED = 1 << 63  # recorder.bpf.c: a cgcache entry "never recorded"
BPF_NOEXIST = 1  # bpf_map_update_elem: insert only
NAME_DEPTH = 8  # recorder.bpf.c: directory names read per cgroup at adoption
MAX_NR = 1024
BPF_FILE = "recorder.bpf.c"
# Recorded whatever --syscall-filters says: the exit triggers are taken at
# their entry (the code is their argument), and the `+++ exited with N +++`
# lines and the dump's last call come from their records. The filter decides
# what the user sees recorded, never what the triggers see.
ALWAYS_RECORDED = ("exit", "exit_group")


def bpf_source() -> Path:
    """The kernel side's C source: package data, so an installed wheel has it too.

    $TRACELOOP_BPF_DIR points elsewhere (the benchmarks compare older sources).
    """
    here = os.environ.get("TRACELOOP_BPF_DIR")
    src = (
        Path(here) / BPF_FILE
        if here
        else Path(str(resources.files(__package__) / "bpf" / BPF_FILE))
    )
    if not src.is_file():
        raise KernelError(f"{src} not found (a broken install, or a wrong TRACELOOP_BPF_DIR)")
    return src


@dataclass(frozen=True)
class KernelConfig:
    settings: Settings
    root_id: int | None  # only cgroups below this one are recorded
    root_level: int = 0
    adopt_root: bool = False  # record the root cgroup itself (traceloop record)
    triggers: int = 0  # Reason bits detected in the kernel
    main_only: int = 0  # Reason bits that count only for the main process
    freeze_on_trigger: bool = True
    # Buckets of the per-thread fast path (raw tracepoints; a power of two).
    # Threads whose bucket is taken pair through task storage, a little
    # slower; tests use 1 to make every thread but one take that path.
    thread_buckets: int = 16384
    # Read the current task's cgroup id, pid and comm by direct loads at
    # offsets from the kernel's BTF (cheaper than the helpers); False, or a
    # BTF without those fields, uses the helpers.
    task_walk: bool = True
    # The per-thread cache of the recording decision (raw tracepoints only):
    # "auto" uses it where the kernel offers an exact hook on cgroup
    # migration (fentry, else a kprobe, on cgroup_migrate_execute), "off"
    # never; "emulated" is for tests: the cache without a hook, migrations
    # announced by the test through Kernel.migrating().
    decision_cache: str = "auto"


def _btf_path() -> Path:
    """The kernel's BTF; $TRACELOOP_VMLINUX_BTF points elsewhere (tests use a
    file that is not BTF to exercise the fallback to the helpers)."""
    return Path(os.environ.get("TRACELOOP_VMLINUX_BTF") or "/sys/kernel/btf/vmlinux")


_warned_no_walk = False
_warned_no_names = False


def task_walk_offsets(cfg: KernelConfig) -> TaskOffsets | None:
    """The task-walk offsets of the running kernel, or None (helpers). A BTF
    that lacks them, or lacks what the kernel side reads a cgroup's path with,
    is said once per process in the log."""
    global _warned_no_walk, _warned_no_names
    if not cfg.task_walk:
        return None
    try:
        found = task_offsets(BTF.load(_btf_path()))
    except BTFError as e:
        if not _warned_no_walk:
            log.warning(
                "the kernel's BTF does not describe the task fields the recorder reads "
                "directly; using the slower helper calls instead, and container paths are "
                "found by scanning the cgroup tree (a container removed before the scan is "
                "named cgroup-ID)",
                extra={"fields": {"reason": str(e)}},
            )
            _warned_no_walk = True
        return None
    if not found.names and not _warned_no_names:
        log.warning(
            "the kernel's BTF has no kernfs_node name and parent: container paths are found "
            "by scanning the cgroup tree (a container removed before the scan is named cgroup-ID)"
        )
        _warned_no_names = True
    return found


def _handler_offset() -> int:
    """k_sigaction.sa.sa_handler, from the kernel's BTF; 0 without it (the
    handler comes first on every architecture but MIPS)."""
    try:
        return handler_offset(BTF.load(_btf_path()))
    except BTFError:
        return 0


def _pending_signal_offset() -> int | None:
    """task_struct.pending.signal from the kernel's BTF; None without it (calls
    cut by a kill then keep their restart code instead of strace's `= ?`)."""
    try:
        return pending_signal_offset(BTF.load(_btf_path()))
    except BTFError:
        return None


def _arch_define() -> str:
    m = platform.machine()
    return {"x86_64": "x86", "aarch64": "arm64"}.get(m, m)


# Tiny programs that tell whether the kernel lets us hook cgroup migration.
_HOOK_PROBES = {
    "fentry": b"KFUNC_PROBE(cgroup_migrate_execute) { return 0; }",
    # Attached by hand, not by bcc's kprobe__ prefix: a constructor that fails
    # to attach never returns the object whose cleanup() would close the
    # program it loaded.
    "kprobe": b"int hook(struct pt_regs *ctx) { return 0; }",
}
_hook_checked: dict[str, bool] = {}
_warned_no_hook = False


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """bcc and libbpf print a failed attempt's errors on fd 2 themselves."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def migration_hook(cfg: KernelConfig) -> str | None:
    """The hook the decision cache will use ("fentry", "kprobe", "emulated"),
    or None (the cache is off). Each kind is tried once per process, by
    loading and attaching a program that does nothing."""
    global _warned_no_hook
    mode = cfg.decision_cache
    if mode == "off" or not cfg.settings.raw_tracepoints:
        return None
    if mode == "emulated":
        return mode
    if mode != "auto":
        raise KernelError(f"unknown decision_cache mode {mode!r}")
    from bcc import BPF

    for kind, src in _HOOK_PROBES.items():
        if kind not in _hook_checked:
            try:
                with _quiet_stderr():
                    probe = BPF(text=src)
                    try:
                        if kind == "kprobe":
                            probe.attach_kprobe(event=b"cgroup_migrate_execute", fn_name=b"hook")
                    finally:
                        probe.cleanup()
                _hook_checked[kind] = True
            except Exception:  # bcc raises bare Exception; any failure means no
                _hook_checked[kind] = False
        if _hook_checked[kind]:
            return kind
    if not _warned_no_hook:
        # Debug: most kernels without kprobes run it this way, and nothing
        # about the recording changes but its cost.
        log.debug(
            "this kernel offers no hook on cgroup migration (fentry or kprobe on "
            "cgroup_migrate_execute): the per-thread cache of the recording decision is off"
        )
        _warned_no_hook = True
    return None


def cflags(
    cfg: KernelConfig,
    table: SyscallTable,
    walk: TaskOffsets | None = None,
    hook: str | None = None,
) -> list[str]:
    s = cfg.settings
    flags = [
        # One slot more when only one is asked for: with NSLABS 1 (a slot
        # index that can only be 0) the verifier walks sys_enter's paths about
        # twice as many times (996,468 of the 1,000,000 instructions it
        # processes at most, against 510,065 with two slots, at 25783e3;
        # bcc reports its E2BIG as "too large"). The extra slot is never on the
        # free list, so no more containers than asked are recorded; it costs
        # one slot's meta.
        f"-DNSLABS={max(s.containers, 2)}",
        f"-DNCHUNKS={s.nchunks}",
        f"-DCHUNK={s.chunk}",
        f"-DRING={s.ring}",
        f"-DFLOOR={s.floor}",
        f"-DSPARE={s.spare}",
        f"-DWINDOW={s.slots}",
        f"-DCAP={s.cap}",
        f"-DARGV_N={ARGV_N}",
        f"-DIOV_N={IOV_N}",
        f"-DENVP_N={ENVP_N}",
        f"-DPATH_CAP={s.path_cap}",
        f"-DBUF_CAP={s.buf_cap}",
        f"-DSA_CAP={s.sa_cap}",
        f"-DMAX_NR={MAX_NR}",
        f"-DROOT_LEVEL={cfg.root_level}",
        f"-DTRIG_ENABLED={cfg.triggers}",
        f"-DTRIG_MAIN_ONLY={cfg.main_only}",
        f"-DFREEZE_ON_TRIGGER={int(cfg.freeze_on_trigger)}",
        f"-D__TARGET_ARCH_{_arch_define()}",
        f"-I{bpf_source().parent}",  # bcc compiles the source as /virtual/main.c
    ]
    for name, macro in (
        ("exit", "NR_EXIT"),
        ("exit_group", "NR_EXIT_GROUP"),
        ("execve", "NR_EXECVE"),
        ("execveat", "NR_EXECVEAT"),
        ("prctl", "NR_PRCTL"),
    ):
        if name in table.by_name:
            flags.append(f"-D{macro}={table.by_name[name].nr}")
    if cfg.root_id is not None:
        flags.append(f"-DROOT_ID={cfg.root_id}ull")
    if cfg.adopt_root:
        flags.append("-DADOPT_ROOT")
    if s.raw_tracepoints:
        flags.append("-DUSE_RAW_TP")
        flags.append(f"-DXTHREADS={cfg.thread_buckets}")
    if walk is not None:
        flags.extend(walk.cflags())
        pending = _pending_signal_offset()
        if pending is not None:
            flags.append(f"-DOFF_TASK_PENDING_SIGNAL={pending}")
    flags.append(f"-DOFF_KSA_HANDLER={_handler_offset()}")
    if hook is not None and s.raw_tracepoints:
        flags += ["-DDECISION_CACHE", f"-DMIGRATE_HOOK_{hook.upper()}"]
    return flags


def _explain(e: Exception) -> KernelError:
    msg = str(e)
    if "kernel headers" in msg or "file not found" in msg or "/lib/modules" in msg:
        return MissingHeadersError(
            "cannot compile the BPF program: kernel headers for "
            f"{os.uname().release} not found; install linux-headers "
            "(deploy/host-setup.sh links Debian's headers to /lib/modules/$(uname -r)/build), "
            "or point BCC_KERNEL_SOURCE at a headers tree"
        )
    if "Operation not permitted" in msg or "Permission denied" in msg:
        return PermissionDeniedError(
            "no permission to load BPF programs: run as root or with "
            "CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
        )
    first = msg.strip().splitlines()[0] if msg.strip() else type(e).__name__
    return KernelError(f"loading the BPF program failed: {first}")


class Kernel:
    """The loaded recorder: maps, mmap-ed chunks and container slots, the event ring buffer."""

    def __init__(self, cfg: KernelConfig, table: SyscallTable) -> None:
        if os.geteuid() != 0:
            raise PermissionDeniedError(
                "recording needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)"
            )
        # bcc compiles against $BCC_KERNEL_SOURCE when it is set (the image ships
        # headers there, for any node's kernel), else /lib/modules/$(uname -r)/build.
        src = os.environ.get("BCC_KERNEL_SOURCE")
        build = (
            Path(src, "include/linux/kconfig.h")
            if src
            else Path(f"/lib/modules/{os.uname().release}/build")
        )
        if not build.exists() and not Path("/sys/kernel/kheaders.tar.xz").exists():
            raise _explain(Exception(f"kernel headers: {build} missing"))
        self.cfg = cfg
        self.table = table
        self.settings = cfg.settings
        try:
            from bcc import BPF
        except ImportError:
            raise KernelError(
                "the bcc Python module is missing: install Debian's python3-bpfcc and run "
                "traceloop from a venv that sees it (deploy/host-setup.sh)"
            ) from None
        self.task_walk = task_walk_offsets(cfg)
        self.decision_cache = migration_hook(cfg)
        try:
            self.bpf = BPF(
                src_file=str(bpf_source()).encode(),
                cflags=cflags(cfg, table, self.task_walk, self.decision_cache),
            )
        except Exception as e:  # bcc raises bare Exception for everything
            raise _explain(e) from None
        # The programs are attached from here on: a failure must detach them,
        # or a caller that goes on without recording (record runs CMD
        # unrecorded) would tax every syscall on the node until it exits.
        try:
            self._setup()
        except BaseException:
            self.bpf.cleanup()
            raise

    def _setup(self) -> None:
        s = self.settings
        self.meta_dtype = meta_dtype(s.ring)
        self._check_layout()
        self.kinds = self._fill_scinfo()
        self._chunks_mm, chunks = self._mmap("chunks", np.dtype("u1"), s.chunk)
        self.chunks = chunks.reshape(s.nchunks, s.chunk)
        self._hdrs_mm, self.chunkhdrs = self._mmap("chunkhdrs", HDR_DTYPE)
        self._meta_mm, self.meta = self._mmap("slabs", self.meta_dtype)
        # Every chunk starts in the pool and every slot on the free list; the
        # programs are attached already and adopt nothing until then (a
        # cgroup whose first calls come meanwhile is counted as table_full).
        q = self.bpf[b"chunkq"]
        for i in range(s.nchunks):
            q.push(ctypes.c_uint32(i))
        for i in range(s.containers):
            self.bpf[b"freeq"].push(ctypes.c_uint32(i))
        self._ring_open = False

    # -- set-up ---------------------------------------------------------
    def _check_layout(self) -> None:
        s = self.settings
        for name, want in (
            ("slabs", self.meta_dtype.itemsize),
            ("chunkhdrs", HDR_DTYPE.itemsize),
            ("chunks", s.chunk),
        ):
            got = ctypes.sizeof(self.bpf[name.encode()].Leaf)
            if got != want:
                raise KernelError(f"{name} layout mismatch: C {got} bytes, Python {want}")
        leaf: Any = self.bpf[b"slabs"].Leaf
        fields: Any = self.meta_dtype.fields or {}
        for name in ("head", "cur", "held", "ring"):
            if getattr(leaf, name).offset != fields[name][1]:
                raise KernelError(f"slab meta layout mismatch at field {name}")
        if s.chunk % REC_BYTES:
            raise KernelError("chunk size is not a multiple of the record size")

    def _fill_scinfo(self) -> dict[int, list[list[int]]]:
        """Which syscalls to record and what to capture: nr -> captures."""
        s = self.settings
        wanted = (
            {c.nr for c in self.table.resolve(s.syscall_filters)}
            | {self.table.by_name[n].nr for n in ALWAYS_RECORDED if n in self.table.by_name}
            if s.syscall_filters
            else None
        )
        m = self.bpf[b"scinfo"]
        kinds: dict[int, list[list[int]]] = {}
        for nr in range(MAX_NR):
            on = wanted is None or nr in wanted
            if not on:
                continue  # the map starts zeroed: not recorded
            leaf = m.Leaf()
            leaf.on = 1
            known = self.table.by_nr.get(nr)
            caps = captures_for(self.table.name(nr), s.buffers, None, s.raw_tracepoints)
            caps = caps[:MAX_CAPTURES]
            if hasattr(leaf, "nargs"):  # older kernel sides (bench --compare-bpf) lack it
                # A captured argument is read even where tracefs names no
                # parameters (x86_64's uname is traced as newuname).
                n = min(len(known.params), 6) if known else 6
                leaf.nargs = max([n] + [c.arg + 1 for c in caps])
            for i, c in enumerate(caps):
                leaf.arg[i] = c.arg
                leaf.kind[i] = int(c.kind)
                leaf.len_arg[i] = c.len_arg
            for i in range(len(caps), MAX_CAPTURES):
                leaf.len_arg[i] = NO_LEN
            m[ctypes.c_int(nr)] = leaf
            if caps:
                kinds[nr] = [[c.arg, int(c.kind), c.len_arg] for c in caps]
        return kinds

    def _mmap(self, name: str, dtype: np.dtype[Any], per: int = 1) -> tuple[mmap.mmap, Any]:
        """A map's values as a NumPy array over its mmap-ed memory (`per`
        items of `dtype` per map value)."""
        table = self.bpf[name.encode()]
        size = table.max_entries * ctypes.sizeof(table.Leaf)
        length = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        mm = mmap.mmap(table.map_fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        arr = np.frombuffer(mm, dtype=dtype, count=table.max_entries * per)
        return mm, arr

    # -- slabs -------------------------------------------------------------
    def cgroups(self) -> dict[int, int]:
        """cgroup id -> slab of every recorded cgroup."""
        return {k.value: v.value for k, v in self.bpf[b"cgslab"].items() if v.value != IGNORED}

    def adopt(self, cgroup_id: int) -> tuple[int, int] | None:
        """Give a cgroup a container slot now, as the kernel side's adopt() does
        at a cgroup's first call (the daemon does this at start for the
        containers already running, which may make no call for a long time).
        The same steps and race rules: a slot from `freeq` and a chunk from
        `chunkq`, both ours alone once popped; the slot's meta and the chunk's
        header set up before the cgroup is published in `cgslab`, by an
        insertion that fails if the kernel adopted the cgroup meanwhile (then
        the slot and chunk go back). Returns (slab, generation), the kernel's
        own if it won; None when no slot or chunk is free (or the cgroup is
        ignored)."""
        cgslab = self.bpf[b"cgslab"]
        key = ctypes.c_uint64(cgroup_id)
        cur = cgslab.get(key)
        if cur is not None:
            return self._owner(cur.value)
        try:
            slab = int(self.bpf[b"freeq"].pop().value)
        except KeyError:
            return None
        try:
            first = int(self.bpf[b"chunkq"].pop().value)
        except KeyError:
            self.bpf[b"freeq"].push(ctypes.c_uint32(slab))
            return None
        h = self.chunkhdrs[first]
        gen = (int(h["gen"]) + 1) & 0xFFFFFFFF
        h["gen"] = gen
        h["calls"] = 0
        h["base"] = 0
        h["fill"] = 0
        m = self.meta[slab]
        m["lock"] = 0
        m["held"] = 1
        m["tail"] = 0
        m["top"] = 0
        m["ring"][0] = first
        m["calls"] = 0
        m["cur"] = (gen << 32) | first
        m["head"] = 0
        m["base"] = 0
        m["cgroup"] = cgroup_id
        m["frozen_at"] = 0
        m["after_freeze"] = 0
        m["triggers"] = 0
        m["main_tgid"] = 0
        m["gen"] = int(m["gen"]) + 1
        from bcc.libbcc import lib

        leaf = ctypes.c_uint32(slab)
        if lib.bpf_update_elem(cgslab.map_fd, ctypes.byref(key), ctypes.byref(leaf), BPF_NOEXIST):
            # The kernel adopted it first (or the cgroup table is full).
            m["cgroup"] = 0
            m["held"] = 0
            self.bpf[b"chunkq"].push(ctypes.c_uint32(first))
            self.bpf[b"freeq"].push(ctypes.c_uint32(slab))
            cur = cgslab.get(key)
            return None if cur is None else self._owner(cur.value)
        self.recorded_again(cgroup_id)
        return slab, int(m["gen"])

    def _owner(self, slab: int) -> tuple[int, int] | None:
        return None if slab == IGNORED else (slab, int(self.meta[slab]["gen"]))

    def leave_out(self, cgroup_id: int) -> None:
        """A container left without a slot: the kernel reports the ends of its
        processes (EventType.UNRECORDED_EXIT), as it does for those it refused."""
        self.bpf[b"unrec"][ctypes.c_uint64(cgroup_id)] = ctypes.c_uint32(1)

    def recorded_again(self, cgroup_id: int) -> None:
        """A container left out got a slot after all (or is gone): forget it."""
        with contextlib.suppress(KeyError):
            del self.bpf[b"unrec"][ctypes.c_uint64(cgroup_id)]

    def path_names(self, slab: int, gen: int, cgroup_id: int) -> list[bytes] | None:
        """The directory names from the watched root down to the cgroup the
        kernel side adopted into `slab` (generation `gen`), as it read them at
        adoption; None when it could not (no BTF for it, a path deeper than it
        reads, a name it could have cut, a slot adopted from userspace)."""
        if self.task_walk is None or not self.task_walk.names:
            return None
        try:
            n = self.bpf[b"cgnames"][ctypes.c_int(slab)]
        except KeyError:
            return None
        if n.cgroup != cgroup_id or n.gen != gen or not n.whole or not n.levels:
            return None
        # char[NAME_DEPTH][NAME_SEG]: its raw bytes (ctypes would stop a char
        # array at its first NUL).
        f = type(n).name
        raw = ctypes.string_at(ctypes.addressof(n) + f.offset, f.size)
        seg = len(raw) // NAME_DEPTH
        names = [raw[i * seg : (i + 1) * seg].split(b"\0", 1)[0] for i in range(n.levels)]
        return names[::-1]

    def ignore(self, cgroup_id: int) -> None:
        """Never record this cgroup; its slab, if any, goes back to the free list."""
        m = self.bpf[b"cgslab"]
        key = ctypes.c_uint64(cgroup_id)
        old = m.get(key)
        m[key] = ctypes.c_uint32(IGNORED)
        if old is not None and old.value != IGNORED:
            self._free(old.value)
        # Also tell the kernel's cgroup cache, which then answers "not
        # recorded" without the cgslab lookup (a host process's every call on
        # a node running the daemon). Being ignored is forever, as being
        # outside the root is, since cgroup ids are not reused; the entry is a
        # hint the kernel may overwrite for another cgroup at any time.
        cache = self.bpf[b"cgcache"]
        leaf = cache.Leaf()
        leaf.cg = cgroup_id | CG_FIXED
        cache[ctypes.c_int(cgroup_id & (cache.max_entries - 1))] = leaf

    def release(self, cgroup_id: int, slab: int) -> None:
        """Forget a dead cgroup and return its slab to the free list."""
        m = self.bpf[b"cgslab"]
        key = ctypes.c_uint64(cgroup_id)
        cur = m.get(key)
        if cur is not None and cur.value == slab:
            del m[key]
        self._free(slab)

    def _free(self, slab: int) -> None:
        meta = self.meta[slab]
        meta["cgroup"] = 0  # no call is recorded into it from now on
        meta["frozen_at"] = 0
        # The kernel gives its chunks back to the pool and the slot to the
        # free list (it keeps the pool's counts: userspace cannot add to them
        # atomically).
        self.bpf[b"releaseq"].push(ctypes.c_uint32(slab))

    def freeze(self, slab: int, gen: int | None = None) -> bool:
        """Stop recording into `slab` (its window stays as it is). With `gen`,
        only if the slab still belongs to that incarnation; returns whether it
        is frozen for it."""
        meta = self.meta[slab]
        if gen is not None and int(meta["gen"]) != gen:
            return False
        if not meta["frozen_at"]:
            meta["frozen_at"] = time_boot_ns()
        return True

    def thaw(self, slab: int) -> None:
        self.meta[slab]["frozen_at"] = 0

    def usage(self, slab: int) -> dict[str, int]:
        """What a container holds now: chunks, bytes, and calls recorded."""
        m = self.meta[slab]
        held = int(m["held"])
        return {
            "chunks": held,
            "bytes": held * self.settings.chunk,
            "calls": calls_made(m, self.chunkhdrs) - int(m["base"]),
        }

    def pool(self) -> dict[str, int]:
        """The node's chunks: how many, how many containers hold (including
        released ones the kernel has not taken back yet), how many beyond floors."""
        taken = self.bpf[b"pool"][ctypes.c_int(0)].taken
        held = int(self.meta["held"].sum())
        return {"chunks": self.settings.nchunks, "held": held, "beyond_floors": int(taken)}

    def drop_forgotten(self, alive: Callable[[int], bool]) -> list[int]:
        """Remove ignore entries of cgroups that no longer exist; returns their ids."""
        m = self.bpf[b"cgslab"]
        gone = [k.value for k, v in m.items() if v.value == IGNORED and not alive(k.value)]
        for cg in gone:
            del m[ctypes.c_uint64(cg)]
        return gone

    @contextlib.contextmanager
    def migrating(self) -> Iterator[None]:
        """Tests of the emulated decision cache: cgroup migrations made inside
        this block are announced to the kernel side as its hook would."""
        if self.decision_cache != "emulated":
            raise KernelError("migrating() is for the emulated decision cache only")
        m = self.bpf[b"migr"]
        key = ctypes.c_int(0)

        def edge(delta: int) -> None:
            v = m[key]
            v.epoch += 1
            v.active += delta
            m[key] = v

        edge(1)
        try:
            yield
        finally:
            edge(-1)

    # -- events and counters ------------------------------------------------
    def on_event(self, callback: Callable[[Event], None]) -> None:
        def _cb(_ctx: Any, data: Any, size: int) -> int:
            callback(Event.parse(ctypes.string_at(data, min(size, EVENT_SIZE))))
            return 0

        self.bpf[b"events"].open_ring_buffer(_cb)
        self._ring_open = True

    def poll(self, timeout_ms: int) -> None:
        if self._ring_open:
            self.bpf.ring_buffer_poll(timeout_ms)

    def stats(self) -> dict[str, int]:
        out = {}
        t = self.bpf[b"stats"]
        for i, name in enumerate(STAT_NAMES):
            out[name] = int(sum(v for v in t[ctypes.c_int(i)]))
        return out

    def close(self) -> None:
        self.bpf.cleanup()
