"""Field offsets of the running kernel's structs, from its BTF (/sys/kernel/btf/vmlinux).

bcc compiles against whatever headers the node has, and those may describe
another kernel than the one running (this project's test machine runs 6.18
with Debian's 6.1 headers), so the kernel side never takes a struct layout
from the headers: where it reads a kernel struct directly, the offsets come
from here and are passed in as -D flags. Only what that needs is parsed:
type kinds, names, struct/union members, pointers, typedefs and modifiers.
The format is the kernel's own (Documentation/bpf/btf.rst).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

VMLINUX = Path("/sys/kernel/btf/vmlinux")
MAGIC = 0xEB9F

# BTF_KIND_* values and the bytes each kind adds after the 12-byte btf_type
# (per member where the kind has `vlen` members).
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
_FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_PER_MEMBER = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
_MODIFIERS = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}


class BTFError(Exception):
    """The BTF is missing, unreadable, or lacks a field we asked for."""


@dataclass(frozen=True, slots=True)
class _Type:
    kind: int
    name_off: int
    size_or_type: int
    vlen: int
    kind_flag: bool
    extra: int  # offset of the kind-specific data in the blob


class BTF:
    """The types of one BTF blob, indexed by id (1-based; 0 is void)."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < 24:
            raise BTFError("BTF too short")
        magic, _ver, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            "<HBBIIIII", blob
        )
        if magic != MAGIC:
            raise BTFError("not BTF (bad magic)")
        self._blob = blob
        self._strings = hdr_len + str_off
        self._str_end = self._strings + str_len
        self._types: list[_Type | None] = [None]
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        if end > len(blob) or self._str_end > len(blob):
            raise BTFError("BTF sections run past the end of the data")
        while pos < end:
            name_off, info, size_or_type = struct.unpack_from("<III", blob, pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            extra = pos + 12
            if kind in _FIXED:
                pos = extra + _FIXED[kind]
            elif kind in _PER_MEMBER:
                pos = extra + vlen * _PER_MEMBER[kind]
            elif kind in (PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG):
                pos = extra
            else:
                raise BTFError(f"unknown BTF kind {kind}")
            self._types.append(_Type(kind, name_off, size_or_type, vlen, bool(info >> 31), extra))
        self._by_name: dict[tuple[int, str], int] | None = None

    @classmethod
    def load(cls, path: Path = VMLINUX) -> BTF:
        try:
            return cls(path.read_bytes())
        except OSError as e:
            raise BTFError(f"cannot read {path}: {e.strerror}") from None

    def _name(self, off: int) -> str:
        start = self._strings + off
        end = self._blob.index(b"\0", start, self._str_end)
        return self._blob[start:end].decode("ascii", "replace")

    def _find(self, kind: int, name: str) -> int:
        if self._by_name is None:
            self._by_name = {}
            for i, t in enumerate(self._types):
                if t is not None and t.kind in (STRUCT, UNION) and t.name_off:
                    self._by_name.setdefault((t.kind, self._name(t.name_off)), i)
        try:
            return self._by_name[(kind, name)]
        except KeyError:
            raise BTFError(f"no struct {name} in the kernel's BTF") from None

    def _resolve(self, tid: int) -> int:
        """Skip typedefs and qualifiers."""
        for _ in range(32):
            t = self._types[tid]
            if t is None or t.kind not in _MODIFIERS:
                return tid
            tid = t.size_or_type
        raise BTFError("BTF modifier chain too long")

    def _members(self, tid: int) -> list[tuple[str, int, int]]:
        """(name, type id, bit offset) of a struct's or union's members."""
        t = self._types[tid]
        assert t is not None
        out = []
        for i in range(t.vlen):
            name_off, mtype, off = struct.unpack_from("<III", self._blob, t.extra + 12 * i)
            bits = off & 0xFFFFFF if t.kind_flag else off
            out.append((self._name(name_off) if name_off else "", mtype, bits))
        return out

    def _member(self, tid: int, name: str) -> tuple[int, int] | None:
        """(byte offset, type id) of member `name`, looking into anonymous
        structs and unions as C does."""
        for mname, mtype, bits in self._members(tid):
            if mname == name:
                if bits % 8:
                    raise BTFError(f"{name} is a bit field")
                return bits // 8, mtype
            inner = self._resolve(mtype)
            t = self._types[inner]
            if not mname and t is not None and t.kind in (STRUCT, UNION):
                found = self._member(inner, name)
                if found is not None:
                    return bits // 8 + found[0], found[1]
        return None

    def offset(self, struct_name: str, field: str) -> int:
        """Byte offset of `field` in struct `struct_name`."""
        return self.field(struct_name, field)[0]

    def field(self, struct_name: str, field: str) -> tuple[int, int]:
        """(byte offset, size in bytes) of `field` in struct `struct_name`."""
        tid = self._find(STRUCT, struct_name)
        found = self._member(tid, field)
        if found is None:
            raise BTFError(f"struct {struct_name} has no field {field} in the kernel's BTF")
        return found[0], self.size_of(found[1])

    def struct_size(self, struct_name: str) -> int:
        """sizeof(struct `struct_name`)."""
        return self.size_of(self._find(STRUCT, struct_name))

    def size_of(self, tid: int) -> int:
        t = self._types[self._resolve(tid)]
        if t is None:
            return 0
        if t.kind == PTR:
            return 8
        if t.kind == ARRAY:
            elem, _index, n = struct.unpack_from("<III", self._blob, t.extra)
            return int(n) * self.size_of(int(elem))
        return t.size_or_type

    def pointee(self, struct_name: str, field: str) -> str:
        """The struct a pointer field points to (checks the chain we walk)."""
        off_tid = self._member(self._find(STRUCT, struct_name), field)
        if off_tid is None:
            raise BTFError(f"struct {struct_name} has no field {field} in the kernel's BTF")
        t = self._types[self._resolve(off_tid[1])]
        if t is None or t.kind != PTR:
            raise BTFError(f"{struct_name}.{field} is not a pointer")
        target = self._types[self._resolve(t.size_or_type)]
        if target is None or target.kind not in (STRUCT, UNION):
            raise BTFError(f"{struct_name}.{field} does not point to a struct")
        return self._name(target.name_off)


@dataclass(frozen=True)
class TaskOffsets:
    """Where the kernel side finds the current task's cgroup id, ids and name.

    task->cgroups->dfl_cgrp->kn->id is what bpf_get_current_cgroup_id()
    returns (the cgroup v2 id); pid is the thread id, tgid the process id.
    """

    cgroups: int
    dfl_cgrp: int
    kn: int
    kn_id: int
    pid: int
    tgid: int
    comm: int
    exit_code: int  # the wait status of a task that ended (read at its end)
    # kernfs_node's name and parent, to read a cgroup's path at adoption;
    # None where BTF lacks them (the daemon then finds paths by scanning).
    kn_name: int | None = None
    kn_parent: int | None = None

    @property
    def names(self) -> bool:
        return self.kn_name is not None and self.kn_parent is not None

    def cflags(self) -> list[str]:
        names = (
            [
                "-DCG_NAMES",
                f"-DOFF_KERNFS_NODE_NAME={self.kn_name}",
                f"-DOFF_KERNFS_NODE_PARENT={self.kn_parent}",
            ]
            if self.names
            else []
        )
        return [
            *names,
            "-DTASK_WALK",
            f"-DOFF_TASK_CGROUPS={self.cgroups}",
            f"-DOFF_CSS_SET_DFL_CGRP={self.dfl_cgrp}",
            f"-DOFF_CGROUP_KN={self.kn}",
            f"-DOFF_KERNFS_NODE_ID={self.kn_id}",
            f"-DOFF_TASK_PID={self.pid}",
            f"-DOFF_TASK_TGID={self.tgid}",
            f"-DOFF_TASK_COMM={self.comm}",
            f"-DOFF_TASK_EXIT_CODE={self.exit_code}",
        ]


def _expect(btf: BTF, struct_name: str, field: str, size: int) -> int:
    off, got = btf.field(struct_name, field)
    if got != size:
        raise BTFError(f"{struct_name}.{field} is {got} bytes, not {size}")
    return off


def task_offsets(btf: BTF) -> TaskOffsets:
    """The offsets of the task walk, checked for the types the kernel side assumes."""
    chain = [("task_struct", "cgroups", "css_set"), ("css_set", "dfl_cgrp", "cgroup")]
    chain.append(("cgroup", "kn", "kernfs_node"))
    for owner, field, target in chain:
        if btf.pointee(owner, field) != target:
            raise BTFError(f"{owner}.{field} does not point to struct {target}")
    return TaskOffsets(
        cgroups=_expect(btf, "task_struct", "cgroups", 8),
        dfl_cgrp=_expect(btf, "css_set", "dfl_cgrp", 8),
        kn=_expect(btf, "cgroup", "kn", 8),
        kn_id=_expect(btf, "kernfs_node", "id", 8),
        pid=_expect(btf, "task_struct", "pid", 4),
        tgid=_expect(btf, "task_struct", "tgid", 4),
        comm=_expect(btf, "task_struct", "comm", 16),
        exit_code=_expect(btf, "task_struct", "exit_code", 4),
        **_kernfs_names(btf),
    )


def handler_offset(btf: BTF) -> int:
    """Where a k_sigaction holds its handler (k_sigaction.sa.sa_handler): the
    signal_deliver tracepoint hands the kernel side a k_sigaction pointer."""
    return _expect(btf, "k_sigaction", "sa", btf.field("k_sigaction", "sa")[1]) + _expect(
        btf, "sigaction", "sa_handler", 8
    )


def pending_signal_offset(btf: BTF) -> int:
    """Where a task's own pending signal set starts (task_struct.pending.signal,
    its first 64 signals): the kernel side looks for SIGKILL there at a call's
    exit (a thread being killed)."""
    pending = _expect(btf, "task_struct", "pending", btf.struct_size("sigpending"))
    return pending + _expect(btf, "sigpending", "signal", 8)


def _kernfs_names(btf: BTF) -> dict[str, int]:
    """kernfs_node's `name` and parent pointer (`parent`, `__parent` since 6.15), or
    nothing: paths are then found by scanning."""
    try:
        name = _expect(btf, "kernfs_node", "name", 8)
        for field in ("__parent", "parent"):
            try:
                if btf.pointee("kernfs_node", field) == "kernfs_node":
                    return {"kn_name": name, "kn_parent": _expect(btf, "kernfs_node", field, 8)}
            except BTFError:
                continue
    except BTFError:
        pass
    return {}
