"""A signal record (docs/dump-format.md) as strace prints a delivery:
`--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---`.

The fields and their order follow strace's printsiginfo: the sender's pid
and uid for kill, tkill and sigqueue; the fault address for SIGILL, SIGFPE,
SIGSEGV, SIGBUS and SIGTRAP; the child's pid, uid, status and times for
SIGCHLD. The record holds the siginfo's union as four 64-bit words (bytes 16
to 47 of the UAPI siginfo_t).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sidecar.model.siginfo import FAULTS, from_kernel, s32, si_code_name
from sidecar.render.errnos import errno_name
from sidecar.render.signals import signal_name
from sidecar.render.values import ptr

SIGBUS, SIGTRAP, SIGSEGV, SIGCHLD, SIGIO, SIGSYS = 7, 5, 11, 17, 29, 31
SI_USER, SI_TIMER, SI_SIGIO, SI_TKILL = 0, -2, -5, -6
CLD_EXITED = 1
AUDIT_ARCH = {0xC000003E: "AUDIT_ARCH_X86_64", 0xC00000B7: "AUDIT_ARCH_AARCH64"}

Field = tuple[str, str, Any]  # name, strace's text, the JSON value


def _s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


def _source(w0: int) -> list[Field]:
    pid, uid = w0 & 0xFFFFFFFF, (w0 >> 32) & 0xFFFFFFFF
    return [("si_pid", str(pid), pid), ("si_uid", str(uid), uid)]


def _sigval(w1: int) -> list[Field]:
    i = s32(w1)
    return [("si_int", str(i), i), ("si_ptr", ptr(w1), ptr(w1))]


def fields(args: Sequence[int], err: int) -> list[Field]:
    """The siginfo's fields strace shows, in its order."""
    signo, code = args[0] & 0xFFFFFFFF, s32(args[1])
    w0, w1, w2, w3 = (x & ((1 << 64) - 1) for x in args[2:6])
    sig = signal_name(signo)
    cname = si_code_name(signo, code)
    out: list[Field] = [("si_signo", sig, sig), ("si_code", cname, cname)]
    if err:
        out.append(("si_errno", errno_name(err), errno_name(err)))
    if not from_kernel(code):
        if code == SI_TIMER:
            tid, overrun = w0 & 0xFFFFFFFF, s32(w0 >> 32)
            out += [("si_timerid", hex(tid), tid), ("si_overrun", str(overrun), overrun)]
            out += _sigval(w1)
        elif code == SI_SIGIO:
            band, fd = _s64(w0), s32(w1)
            out += [("si_band", str(band), band), ("si_fd", str(fd), fd)]
        else:
            out += _source(w0)
            if code not in (SI_USER, SI_TKILL) and w1:
                out += _sigval(w1)
    elif signo == SIGCHLD:
        out += _source(w0)
        status = s32(w1)
        if code == CLD_EXITED:
            out.append(("si_status", str(status), status))
        else:
            out.append(("si_status", signal_name(status), signal_name(status)))
        ut, st = _s64(w2), _s64(w3)
        out += [("si_utime", str(ut), ut), ("si_stime", str(st), st)]
    elif signo in FAULTS:
        out.append(("si_addr", ptr(w0), ptr(w0)))
        if signo == SIGBUS and code in (4, 5):  # BUS_MCEERR_AR, BUS_MCEERR_AO
            lsb = w1 & 0xFFFF
            out.append(("si_addr_lsb", hex(lsb), lsb))
        elif signo == SIGSEGV and code == 3:  # SEGV_BNDERR
            out += [("si_lower", ptr(w2), ptr(w2)), ("si_upper", ptr(w3), ptr(w3))]
        elif signo == SIGSEGV and code == 4:  # SEGV_PKUERR
            pkey = w2 & 0xFFFFFFFF
            out.append(("si_pkey", str(pkey), pkey))
    elif signo == SIGIO:
        if code in (1, 2, 3):  # POLL_IN, POLL_OUT, POLL_MSG
            band, fd = _s64(w0), s32(w1)
            out += [("si_band", str(band), band), ("si_fd", str(fd), fd)]
    elif signo == SIGSYS:
        nr, arch = w1 & 0xFFFFFFFF, (w1 >> 32) & 0xFFFFFFFF
        aname = AUDIT_ARCH.get(arch, hex(arch))
        out += [("si_call_addr", ptr(w0), ptr(w0)), ("si_syscall", str(nr), nr)]
        out.append(("si_arch", aname, aname))
    else:
        if w0:
            out += _source(w0)
        if w1:
            out += _sigval(w1)
    return out


def strace_line(args: Sequence[int], err: int) -> str:
    """`--- SIGSEGV {si_signo=SIGSEGV, ...} ---`"""
    sig = signal_name(args[0] & 0xFFFFFFFF)
    inner = ", ".join(f"{name}={text}" for name, text, _ in fields(args, err))
    return f"--- {sig} {{{inner}}} ---"


def short_text(args: Sequence[int], err: int) -> str:
    """The table's parameters: the fields without the signal's name."""
    return ", ".join(f"{name}={text}" for name, text, _ in fields(args, err)[1:])


def json_fields(args: Sequence[int], err: int) -> dict[str, Any]:
    return {name: value for name, _, value in fields(args, err)}
