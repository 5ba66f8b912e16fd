"""Linux signal names by number (x86_64 and arm64 share them).

Written out rather than taken from Python's `signal` module, whose numbers are
the running platform's.
"""

from __future__ import annotations

SIGNALS: dict[int, str] = {
    1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
    7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
    13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
    18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG",
    24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
    30: "SIGPWR", 31: "SIGSYS",
}  # fmt: skip

SIGRTMIN = 32  # the kernel's; glibc keeps 32 and 33 for itself
SIGRTMAX = 64


def signal_name(sig: int) -> str:
    """strace's names: SIGSEGV, SIGRTMIN, SIGRT_3; 0 stays 0 (kill's probe)."""
    name = SIGNALS.get(sig)
    if name is not None:
        return name
    if sig == SIGRTMIN:
        return "SIGRTMIN"
    if SIGRTMIN < sig <= SIGRTMAX:
        return f"SIGRT_{sig - SIGRTMIN}"
    return str(sig)
