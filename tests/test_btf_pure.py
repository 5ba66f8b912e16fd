"""The BTF reader: struct member offsets from a kernel's type information."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from sidecar.kernel.btf import BTF, BTFError, pending_signal_offset, task_offsets


class _Blob:
    """A minimal BTF writer for tests: types are appended, ids count from 1."""

    def __init__(self) -> None:
        self.types = b""
        self.strings = b"\0"
        self.n = 0

    def name(self, s: str) -> int:
        off = len(self.strings)
        self.strings += s.encode() + b"\0"
        return off

    def add(
        self, kind: int, name: str, size_or_type: int, vlen: int = 0, extra: bytes = b""
    ) -> int:
        info = (kind << 24) | vlen
        self.types += struct.pack("<III", self.name(name) if name else 0, info, size_or_type)
        self.types += extra
        self.n += 1
        return self.n

    def struct(self, name: str, size: int, members: list[tuple[str, int, int]]) -> int:
        extra = b"".join(
            struct.pack("<III", self.name(m) if m else 0, t, off * 8) for m, t, off in members
        )
        return self.add(4, name, size, len(members), extra)

    def bytes(self) -> bytes:
        hdr = struct.pack(
            "<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings)
        )
        return hdr + self.types + self.strings


def _kernel_like(with_kn_id: bool = True, parent: str | None = "__parent") -> bytes:
    b = _Blob()
    u32 = b.add(1, "unsigned int", 4, extra=struct.pack("<I", 32))  # 1
    u64 = b.add(1, "long long unsigned int", 8, extra=struct.pack("<I", 64))  # 2
    pid_t = b.add(8, "pid_t", u32)  # 3: typedef
    char = b.add(1, "char", 1, extra=struct.pack("<I", 8))  # 4
    idx = b.add(1, "int", 4, extra=struct.pack("<I", 32))  # 5
    comm = b.add(3, "", 0, extra=struct.pack("<III", char, idx, 16))  # 6: char[16]
    kn_members = [("count", u32, 0), ("id", u64, 8)] if with_kn_id else [("count", u32, 0)]
    if parent is not None:
        # The pointer to the parent is type 8, made next (BTF allows forward references).
        kn_members += [(parent, 8, 24), ("name", 16, 32)]
    kn = b.struct("kernfs_node", 40, kn_members)  # 7
    kn_ptr = b.add(2, "", kn)  # 8
    cgrp = b.struct("cgroup", 264, [("flags", u32, 0), ("kn", kn_ptr, 256)])  # 9
    cgrp_ptr = b.add(2, "", cgrp)  # 10
    cset = b.struct("css_set", 120, [("dfl_cgrp", cgrp_ptr, 112)])  # 11
    cset_ptr = b.add(2, "", cset)  # 12
    rcu = b.add(18, "rcu", cset_ptr)  # 13: type tag
    # An anonymous struct holding pid and tgid: the reader looks into
    # anonymous members as C does.
    anon = b.add(
        4,
        "",
        8,
        2,
        struct.pack("<III", b.name("pid"), pid_t, 0)
        + struct.pack("<III", b.name("tgid"), pid_t, 32),
    )
    b.struct(
        "task_struct",
        4096,
        [("state", u32, 0), ("", anon, 1264), ("exit_code", idx, 1164), ("comm", comm, 1752),
         ("cgroups", rcu, 2376), ("pending", 17, 2000)],
    )  # fmt: skip
    b.add(2, "", char)  # 16: char *
    b.struct("sigpending", 24, [("list", comm, 0), ("signal", u64, 16)])  # 17
    return b.bytes()


def test_offsets_of_the_task_walk_through_anonymous_members_and_typedefs() -> None:
    o = task_offsets(BTF(_kernel_like()))
    assert (o.cgroups, o.dfl_cgrp, o.kn, o.kn_id) == (2376, 112, 256, 8)
    assert (o.pid, o.tgid, o.comm, o.exit_code) == (1264, 1268, 1752, 1164)
    assert (o.kn_name, o.kn_parent) == (32, 24) and "-DCG_NAMES" in o.cflags()


def test_kernfs_parent_before_6_15_and_no_names_at_all() -> None:
    """`parent` became `__parent` in 6.15; without either, the walk still works and
    only the names are left out (paths are then found by scanning)."""
    old = task_offsets(BTF(_kernel_like(parent="parent")))
    assert (old.kn_name, old.kn_parent) == (32, 24)
    none = task_offsets(BTF(_kernel_like(parent=None)))
    assert not none.names and none.kn_id == 8
    assert not [f for f in none.cflags() if "CG_NAMES" in f or "KERNFS_NODE_NAME" in f]


def test_a_missing_field_is_an_error_that_names_it() -> None:
    with pytest.raises(BTFError, match="kernfs_node has no field id"):
        task_offsets(BTF(_kernel_like(with_kn_id=False)))


def test_not_btf_is_an_error() -> None:
    with pytest.raises(BTFError):
        BTF(b"\0" * 64)
    with pytest.raises(BTFError, match="cannot read"):
        BTF.load(Path("/nonexistent/vmlinux"))


def test_the_running_kernels_btf_has_the_task_walk() -> None:
    o = task_offsets(BTF.load())
    assert o.comm != o.pid and all(v > 0 for v in (o.cgroups, o.dfl_cgrp, o.kn, o.pid, o.comm))
    assert o.names and o.exit_code > 0


def test_a_tasks_pending_signals() -> None:
    """task_struct.pending.signal, where sys_exit looks for SIGKILL."""
    assert pending_signal_offset(BTF(_kernel_like())) == 2016
    running = pending_signal_offset(BTF.load())
    assert 0 < running < BTF.load().struct_size("task_struct")
