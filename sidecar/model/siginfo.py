"""si_code names (Linux UAPI, as strace names them) and which codes mean what.

Pure: used by the fatal-signal trigger (triggers/kernel.py) and by show's
`--- SIG... {...} ---` lines (sidecar/render/siginfo.py). Numbers are the
kernel's, the same on every architecture traceloop records.
"""

from __future__ import annotations

# Codes any signal may carry; looked up first, as strace does.
GENERIC: dict[int, str] = {
    0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER", -3: "SI_MESGQ",
    -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL", -7: "SI_DETHREAD", -60: "SI_ASYNCNL",
}  # fmt: skip


def _codes(prefix: str, names: str) -> dict[int, str]:
    return {i: f"{prefix}_{n}" for i, n in enumerate(names.split(), 1) if n != "-"}


# Per signal number, the codes the kernel gives when it raised the signal itself.
BY_SIGNAL: dict[int, dict[int, str]] = {
    4: _codes("ILL", "ILLOPC ILLOPN ILLADR ILLTRP PRVOPC PRVREG COPROC BADSTK BADIADDR"),
    5: _codes("TRAP", "BRKPT TRACE BRANCH HWBKPT UNK PERF"),
    7: _codes("BUS", "ADRALN ADRERR OBJERR MCEERR_AR MCEERR_AO"),
    8: {
        **_codes("FPE", "INTDIV INTOVF FLTDIV FLTOVF FLTUND FLTRES FLTINV FLTSUB"),
        14: "FPE_FLTUNK",
        15: "FPE_CONDTRAP",
    },
    11: _codes("SEGV", "MAPERR ACCERR BNDERR PKUERR ACCADI ADIDERR ADIPERR MTEAERR MTESERR CPERR"),
    17: _codes("CLD", "EXITED KILLED DUMPED TRAPPED STOPPED CONTINUED"),
    27: {1: "PROF_SIG"},
    29: _codes("POLL", "IN OUT MSG ERR PRI HUP"),
    31: _codes("SYS", "SECCOMP USER_DISPATCH"),
}

FAULTS = frozenset({4, 5, 7, 8, 11})  # SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV: si_addr


def si_code_name(signo: int, code: int) -> str:
    """strace's name for a siginfo's si_code; the number when it has none."""
    name = GENERIC.get(code)
    if name is None:
        name = BY_SIGNAL.get(signo, {}).get(code)
    return name if name is not None else str(code)


def from_kernel(code: int) -> bool:
    """The kernel raised the signal (a fault, a child's end), rather than a
    process with kill, tkill or sigqueue (SI_FROMUSER: codes <= 0)."""
    return code > 0


def s32(v: int) -> int:
    """A 32-bit field of the siginfo, signed (si_code as the dump stores it)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v
