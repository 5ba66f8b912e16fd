"""How to show one syscall number of a dump: its decoders, built once per dump.

The dump's header names every syscall number and its parameters (names and C
types from the recording node's tracefs), so decoding keys on *names*: a dump
from another kernel or architecture (where numbers and even argument orders
differ, e.g. clone's) decodes correctly. Which formatter shows each parameter
is sidecar/render/specs.py's choice; which arguments strace shows, and how,
sidecar/render/special.py's; return values sidecar/render/returns.py's.

Captured memory (paths, buffers, sockaddrs, objects such as a stat or a wait
status: sidecar/render/structs.py) replaces the raw pointer. Per record, a call
renders through functions generated once per syscall (`_unrolled`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sidecar.dump.captures import ARGV_N, ENVP_N, Kind
from sidecar.dump.syscalls import SyscallTable
from sidecar.model.text import escape
from sidecar.render import fdsets, objects
from sidecar.render.errnos import strace_error
from sidecar.render.objects import more_decoders
from sidecar.render.returns import NORETURN, TABLE_X, ret_fmt
from sidecar.render.sockaddr import sockaddr_cached, sockaddr_json_cached
from sidecar.render.sockopts import JOINT
from sidecar.render.special import LABELS, SHOWN
from sidecar.render.specs import FALLBACK_PARAMS, RAW, formatter, specs
from sidecar.render.strings import argv_strings, path_text, quote, quote_argv, quote_path, text
from sidecar.render.structs import decoders
from sidecar.render.values import js32, js64, json_fmt, ju32, ju64, ptr, s32, s64, u32, u64
from sidecar.render.vectors import NOTES, msg_joint, vec_decoders

# Plain ints: compared in the per-record loop, where IntEnum comparisons cost.
STR, BUF_IN, BUF_OUT = int(Kind.STR), int(Kind.BUF_IN), int(Kind.BUF_OUT)
SA_IN, SA_OUT = int(Kind.SA_IN), int(Kind.SA_OUT)
OBJ_IN, OBJ_OUT, ARGV = int(Kind.OBJ_IN), int(Kind.OBJ_OUT), int(Kind.ARGV)
ARRAY = int(Kind.ARRAY)  # and the kinds after it: sidecar/render/vectors.py
CMSG = int(Kind.CMSG)  # control messages: part of sendmsg's message (vectors.msg_joint)


class Call:
    """How to show one syscall number of one dump."""

    __slots__ = ("argv", "eqs", "fmts", "jargs", "jfmts", "joint", "labels", "name", "noreturn",
                 "note", "objs", "out_bufs", "out_path", "params", "plain_strace",
                 "plain_table", "ret_fmt", "shown", "table_x", "text_name", "tmpl", "vals",
                 "vecs")  # fmt: skip

    def __init__(
        self,
        name: str,
        params: Sequence[tuple[str, str]],
        arch: str = "x86_64",
        captures: Sequence[Sequence[int]] = (),
    ) -> None:
        if not params and name in FALLBACK_PARAMS:
            params = FALLBACK_PARAMS[name]
        params = list(params)[:6]
        # A captured argument the table has no parameter for still gets a slot.
        for cap in captures:
            while cap and 0 <= cap[0] < 6 and len(params) <= cap[0]:
                params.append((f"arg{len(params)}", "unsigned long"))
        self.name = name
        self.text_name = escape(name)  # in text forms: the dump's table names it
        self.params = tuple(p[0] for p in params)
        self.eqs = tuple(escape(p) + "=" for p in self.params)  # the table's `name=` prefixes
        # ...and all of them at once: `fd=%s, buf=%s, count=%s`
        self.tmpl = ", ".join(e.replace("%", "%%") + "%s" for e in self.eqs)
        ix = {p: i for i, p in enumerate(self.params)}
        spec = specs(arch).get(name, {})
        fmts = [formatter(spec, ix, pname, ctype) for pname, ctype in params]
        # One formatter per parameter, in order, then written out per form.
        self.fmts = tuple(fmts)
        self.jfmts = tuple(json_fmt(f) for f in fmts)
        self.vals: Callable[[Sequence[int]], list[str]] = _unrolled(self.fmts)
        self.jargs: Callable[[Sequence[int]], dict[str, Any]] = _unrolled(self.jfmts, self.params)
        make_shown = SHOWN.get(name)
        self.shown = make_shown(ix) if make_shown else None
        labels = LABELS.get(name)
        self.labels = tuple(labels.get(p, "") for p in self.params) if labels else None
        self.ret_fmt = ret_fmt(name, ix, arch)
        self.noreturn = name in NORETURN
        self.table_x = name in TABLE_X
        self.objs = {**decoders(name, arch), **more_decoders(name, arch)}
        self.vecs = vec_decoders(name, arch, captures)
        # captures that decode together (getsockopt's, select's, clone3's)
        self.joint = (
            JOINT.get(name)
            or objects.JOINT.get(name)
            or fdsets.JOINT.get(name)
            or msg_joint(name, captures)
        )
        # what strace adds after the return value
        self.note = NOTES.get(name) or fdsets.NOTES.get(name)
        # execve's argv capture also counts its environment (JSON's envp_vars)
        self.argv = any(len(c) > 1 and c[1] == ARGV for c in captures)
        self.out_path = name == "getcwd"  # a path with its NUL, which strace leaves out
        self.out_bufs = tuple(c[0] for c in captures if len(c) > 1 and c[1] == BUF_OUT
                              and 0 <= c[0] < len(self.params))  # fmt: skip
        # A call that captured nothing and shows all its arguments (most of
        # them) renders in one generated expression, no list in between.
        self.plain_strace: Callable[[Sequence[int]], str] | None = None
        self.plain_table: Callable[[Sequence[int]], str] | None = None
        if self.shown is None and not self.out_bufs:
            if not self.labels:
                self.plain_strace = _unrolled(self.fmts, template=", ".join(["%s"] * len(fmts)))
            self.plain_table = _unrolled(self.fmts, template=self.tmpl)

    @classmethod
    def unknown(cls, nr: int) -> Call:
        return cls(f"syscall_{nr}", [(f"arg{i}", RAW) for i in range(6)])

    def renamed(self, name: str) -> Call:
        """This call's decoders under another name (a copy: cheap, nothing generated)."""
        c = copy.copy(self)
        c.name = name
        c.text_name = escape(name)
        return c

    def texts(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> list[str]:
        """Every parameter as strace writes it, captures decoded."""
        vals = self.vals(a)
        if ret == 0 and self.out_bufs:
            for i in self.out_bufs:
                vals[i] = '""'  # a read of nothing: strace shows the empty buffer
        if caps:
            n = len(vals)
            for arg, kind, data, full in caps:
                if data is None:
                    continue  # unreadable: the pointer, as strace shows it
                if 0 <= arg < n:
                    if kind == STR:
                        vals[arg] = quote_path(data, full)
                    elif kind in (BUF_IN, BUF_OUT):
                        if self.out_path:
                            vals[arg] = quote_path(data, full)
                        else:
                            vals[arg] = quote(data, full, limit)
                    elif kind in (SA_IN, SA_OUT):
                        vals[arg] = sockaddr_cached(data)
                    elif kind in (OBJ_IN, OBJ_OUT) and arg in self.objs:
                        obj = self.objs[arg](data, a, ret)
                        if obj is not None:
                            vals[arg] = obj[0]
                    elif kind == ARGV:
                        vals[arg] = quote_argv(data, full & 0xFFFF, ARGV_N, limit)
                        if full >> 16 and arg + 1 < n:
                            vals[arg + 1] += envp_note(full >> 16)
                    elif kind >= ARRAY and kind != CMSG and arg in self.vecs:
                        vec = self.vecs[arg](data, a, ret, limit)
                        if vec is not None:
                            vals[arg] = vec[0]
            if self.joint:
                for arg, (t, _j) in self.joint(caps, a, ret, limit).items():
                    if arg < n:  # a dump's table may name fewer parameters
                        vals[arg] = t
        return vals

    def strace_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> str:
        if not caps and self.plain_strace is not None:
            return self.plain_strace(a)
        vals = self.texts(a, caps, ret, limit)
        idx = self.shown(a) if self.shown else None
        if self.labels:
            lab = self.labels
            return ", ".join([lab[i] + vals[i] for i in (idx or range(len(vals)))])
        if idx is None:
            return ", ".join(vals)
        return ", ".join([vals[i] for i in idx])

    def table_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> str:
        if not caps and self.plain_table is not None:
            return self.plain_table(a)
        vals = self.texts(a, caps, ret, limit)
        idx = self.shown(a) if self.shown else None
        if idx is None:
            return self.tmpl % tuple(vals)
        eqs = self.eqs
        return ", ".join([eqs[i] + vals[i] for i in idx])

    def json_args(
        self, a: Sequence[int], caps: Sequence[Sequence[Any]], ret: int | None, limit: int | None
    ) -> tuple[dict[str, Any], list[str]]:
        """Parameter name -> value, and the names whose captured data is cut."""
        out: dict[str, Any] = self.jargs(a)
        cut: list[str] = []
        if not caps and not self.out_bufs:
            return out, cut
        p = self.params
        if ret == 0 and self.out_bufs:
            for i in self.out_bufs:
                out[p[i]] = ""
        n = len(p)
        for arg, kind, data, full in caps:
            if 0 <= arg < n:
                if data is None:  # the kernel could not read it: never a value
                    if kind != CMSG:  # (the message stays; its control, the pointer)
                        out[p[arg]] = {"unreadable": hex(a[arg] & 0xFFFFFFFFFFFFFFFF)}
                    continue
                if kind == STR:
                    out[p[arg]] = path_text(data)
                elif kind in (BUF_IN, BUF_OUT):
                    if self.out_path:
                        out[p[arg]] = path_text(data)
                        continue
                    if limit is not None and len(data) > limit:
                        data = data[:limit]
                    out[p[arg]] = text(data)
                elif kind in (SA_IN, SA_OUT):
                    out[p[arg]] = sockaddr_json_cached(data)
                    continue
                elif kind in (OBJ_IN, OBJ_OUT) and arg in self.objs:
                    obj = self.objs[arg](data, a, ret)
                    if obj is not None:
                        out[p[arg]] = obj[1]
                    continue
                elif kind == ARGV:
                    strings, missing = argv_strings(data, full & 0xFFFF, ARGV_N)
                    out[p[arg]] = [text(x[:limit] if limit is not None else x) for x in strings]
                    if missing or (limit is not None and any(len(x) > limit for x in strings)):
                        cut.append(p[arg])
                    if full >> 16 > ENVP_N + 1 and arg + 1 < n:
                        cut.append(p[arg + 1])  # more variables than the recorder counts
                    continue
                elif kind >= ARRAY and kind != CMSG and arg in self.vecs:
                    vec = self.vecs[arg](data, a, ret, limit)
                    if vec is not None:
                        out[p[arg]] = vec[1]
                        if vec[2]:
                            cut.append(p[arg])
                    continue
                else:
                    continue
                if full > len(data):
                    cut.append(p[arg])
        if self.joint:
            for arg, (_t, j) in self.joint(caps, a, ret, limit).items():
                if arg < n:
                    out[p[arg]] = j
        return out, cut

    def ret_text(
        self, ret: int, a: Sequence[int], caps: Sequence[Sequence[Any]] | None = None
    ) -> str:
        """A return value as strace shows it after `= ` (errors with errno name and
        text); given the call's `caps`, with what strace adds after it: poll's
        revents, `(Timeout)`, the signal rt_sigtimedwait took."""
        if -4095 <= ret < 0:
            return strace_error(-ret)
        if self.note is not None and caps is not None:
            return self.ret_fmt(ret, a) + self.note(ret, a, caps)
        return self.ret_fmt(ret, a)


def envp_vars(caps: Sequence[Sequence[Any]]) -> int | None:
    """The environment's variables execve's argv capture counted (at most
    ENVP_N; `truncated` then names envp), or None when not counted."""
    for _arg, kind, data, full in caps:
        if kind == ARGV and data is not None and full >> 16:
            return min(int(full >> 16) - 1, ENVP_N)
    return None


def envp_note(counted: int) -> str:
    """strace's ` /* 2 vars */` after execve's envp, from what the recorder
    counted (1 + the variables; ENVP_N + 2: more than it counts)."""
    if counted > ENVP_N + 1:
        return f" /* {ENVP_N}+ vars */"
    return f" /* {counted - 1} vars */"


# The simplest formatters written into the unrolled code as expressions (no
# call at all); `{a}` is the argument's register. Each equals its function:
# tests/test_decode_args.py holds them to it.
_S32 = "((({a}) & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000"
_S64 = "((({a}) & 0xFFFFFFFFFFFFFFFF) ^ 0x8000000000000000) - 0x8000000000000000"
_U64 = "(({a}) & 0xFFFFFFFFFFFFFFFF)"
_PTR = '(hex({a} & 0xFFFFFFFFFFFFFFFF) if {a} & 0xFFFFFFFFFFFFFFFF else "NULL")'
INLINE: dict[Callable[..., Any], str] = {
    js32: _S32, s32: f"str({_S32})", js64: _S64, s64: f"str({_S64})",
    ju32: "(({a}) & 0xFFFFFFFF)", u32: "str(({a}) & 0xFFFFFFFF)", ju64: _U64, u64: f"str({_U64})",
    ptr: _PTR,
}  # fmt: skip


def _unrolled(
    fmts: Sequence[Callable[[int, Sequence[int]], Any]],
    keys: Sequence[str] | None = None,
    template: str | None = None,
) -> Any:
    """`lambda a: [f0(a[0], a), f1(a[1], a), ...]` (or a dict keyed by `keys`).

    This runs for every record, and written out it takes half the time of a
    loop over zip(). Built with exec like dataclasses' methods; the source holds
    only generated names, the fixed expressions above and repr()s of parameter
    names, never raw header text.
    """
    exprs = []
    for i, f in enumerate(fmts):
        inline = INLINE.get(f)
        exprs.append(inline.format(a=f"a[{i}]") if inline else f"f{i}(a[{i}], a)")
    if template is not None:  # the whole text at once: `fd=%s, count=%s` % (...)
        body = f"{template!r} % (" + "".join(e + ", " for e in exprs) + ")"
    elif keys is not None:
        body = "{" + ", ".join(f"{k!r}: {e}" for k, e in zip(keys, exprs, strict=True)) + "}"
    else:
        body = "[" + ", ".join(exprs) + "]"
    ns: dict[str, Any] = {f"f{i}": f for i, f in enumerate(fmts)}
    exec(f"def unrolled(a):\n    return {body}\n", ns)
    return ns["unrolled"]


def arch_of(header: Mapping[str, Any]) -> str:
    """The recording machine's architecture (flag values differ between them)."""
    host = header.get("host")
    return str(host.get("arch", "")) if isinstance(host, dict) else ""


def build(header: Mapping[str, Any]) -> dict[int, Call]:
    """Decoders for every syscall number in a dump's header."""
    arch = arch_of(header)
    return {
        nr: Call(s.name, [(p.name, p.type) for p in s.params], arch, s.captures)
        for nr, s in SyscallTable.from_header(header).by_nr.items()
    }
