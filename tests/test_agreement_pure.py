"""tests/agreeutil.py's parts that decide the measure: strace lines cut into
per-thread (syscall, result) pairs, and the longest common subsequence."""

from __future__ import annotations

import random

from agreeutil import Trace, compare, lcs_length, parse

STRACE = """\
100   execve("/bin/x", ["x"], 0x7ffd /* 3 vars */) = 0
100   clone3({flags=CLONE_VM, ...} <unfinished ...>
101   rseq(0x7f, 0x20, 0, 0x53053053 <unfinished ...>
100   <... clone3 resumed> => {parent_tid=[101]}, 88) = 101
101   <... rseq resumed>)               = 0
101   write(1, "a ) = 5 (x)", 11)        = 11
101   read(3, 0x7ffc, 8)                = ? ERESTARTSYS (To be restarted if SA_RESTART is set)
101   --- SIGALRM {si_signo=SIGALRM, si_code=SI_KERNEL} ---
101   rt_sigreturn({mask=[]})           = 0
101   restart_syscall(<... resuming interrupted read ...>) = 1
100   openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)
100   poll([{fd=3, events=POLLIN}], 1, 0) = 1 ([{fd=3, revents=POLLIN}])
101   futex(0x7f, FUTEX_WAIT, 0, NULL <unfinished ...>
100   exit_group(0)                     = ?
100   +++ exited with 0 +++
"""


def test_strace_lines_become_pairs_per_thread() -> None:
    t = parse(STRACE.splitlines())
    assert t.calls[100] == [
        ("execve", "0"), ("clone3", "101"), ("openat", "-1 ENOENT"), ("poll", "1"),
        ("exit_group", "?"),
    ]  # fmt: skip
    assert t.calls[101] == [
        ("rseq", "0"), ("write", "11"), ("read", "? ERESTARTSYS"), ("rt_sigreturn", "0"),
        ("restart_syscall", "1"), ("futex", "?"),  # never resumed: the thread ended in it
    ]  # fmt: skip
    assert t.signals[101] == [("SIGALRM", "SI_KERNEL", 3)]
    assert t.creation_order() == [100, 101]


def test_our_prefix_and_kernel_names() -> None:
    t = parse(['[pid  7] newfstatat(AT_FDCWD, "/x", 0x7f, 0) = 0', "[pid  7] newuname({}) = 0"])
    assert t.calls[7] == [("newfstatat", "0"), ("uname", "0")]


def lcs_dp(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            cur = row[j + 1]
            row[j + 1] = prev + 1 if x == y else max(row[j + 1], row[j])
            prev = cur
    return row[-1]


def test_lcs_is_the_longest_common_subsequence() -> None:
    rng = random.Random(14)
    for _ in range(300):
        a = [(rng.choice("abc"), "0") for _ in range(rng.randrange(0, 25))]
        b = [(rng.choice("abc"), "0") for _ in range(rng.randrange(0, 25))]
        assert lcs_length(a, b) == lcs_dp(a, b), (a, b)


def test_a_differing_result_costs_one_pair() -> None:
    theirs = parse(['5 read(3, "", 8) = 0', "5 close(3) = 0", "5 exit_group(0) = ?"])
    ours = parse(["[pid 5] read(3, \"\", 8) = 0", "[pid 5] close(3) = -1 EBADF (Bad file descriptor)",
                  "[pid 5] exit_group(0) = ?"])  # fmt: skip
    ag = compare(theirs, ours, same_run=True, head_lost=False)
    assert (ag.matched, ag.total) == (2, 3) and ag.ratio == 2 / 3
    assert ag.mismatches == ["tid 5: #1: strace [close=0] ours [close=-1 EBADF]"]
    assert compare(theirs, Trace(), same_run=True, head_lost=False).ratio == 0.0


def test_an_exec_in_a_second_thread_as_f_and_ff_write_it() -> None:
    f = ["7 execve(\"/bin/sh\", [\"sh\"], 0x7f /* 3 vars */ <unfinished ...>",
         "5 +++ superseded by execve in pid 7 +++", "5 <... execve resumed>) = 0"]  # fmt: skip
    ff = ["7 execve(\"/bin/sh\", [\"sh\"], 0x7f /* 3 vars */ <pid changed to 5 ...>",
          "5 +++ superseded by execve in pid 7 +++", "5 <... execve resumed>) = 0"]  # fmt: skip
    assert parse(f).calls == parse(ff).calls == {7: [("execve", "?")], 5: [("execve", "0")]}
