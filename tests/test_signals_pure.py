"""Signal records and unreadable captures, without the kernel: the reader,
the siginfo's forms, the fatal-signal trigger and its `+++` line."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from showutil import fixture, make_dump, show

from sidecar.dump.reader import read_all
from sidecar.dump.records import KIND_BASE, SIGNAL
from sidecar.dump.writer import write_dump
from sidecar.model.kernel_events import EVENT_SIZE, Event, EventType, Reason
from sidecar.render.siginfo import json_fields, short_text, strace_line
from sidecar.render.trigger_lines import trigger_lines
from triggers.kernel import trigger_from_event

U32 = (1 << 32) - 1


def sig(signo: int, code: int, *words: int, errno: int = 0) -> list[object]:
    w = [*words, 0, 0, 0, 0][:4]
    return [7, 1000, None, 0, 42, 43, "prog", SIGNAL, [signo, code & U32, *w], errno, []]


def call(seq: int) -> list[object]:
    return [seq, 900 + seq, 5, 0, 42, 42, "prog", 0, [3, 0, 0, 0, 0, 0], -2, []]


def test_the_reader_keeps_signals_and_skips_kinds_it_does_not_know() -> None:
    unknown = [*call(9)[:7], KIND_BASE + 5, [0] * 6, 0, []]
    recs = [call(1), sig(11, 1), unknown, call(2)]
    buf = io.BytesIO()
    write_dump(buf, {"triggers": []}, recs)
    _, back = read_all(buf.getvalue())  # the footer counts all four
    assert back == [call(1), sig(11, 1), call(2)]


def test_an_unreadable_capture_round_trips_and_other_data_is_refused() -> None:
    rec = call(1)
    rec[10] = [[1, 1, None, 0]]
    buf = io.BytesIO()
    write_dump(buf, {"triggers": []}, [rec])
    assert read_all(buf.getvalue())[1] == [rec]
    rec[10] = [[1, 1, "a string", 0]]
    buf = io.BytesIO()
    write_dump(buf, {"triggers": []}, [rec])
    with pytest.raises(Exception, match=r"caps\[0\]\[2\]: expected binary data or nil"):
        read_all(buf.getvalue())


@pytest.mark.parametrize(
    "rec, line",
    [
        (sig(11, 2, 0x7F0012345678), "{si_signo=SIGSEGV, si_code=SEGV_ACCERR, si_addr=0x7f0012345678}"),
        (sig(15, -6, 77 | 1000 << 32), "{si_signo=SIGTERM, si_code=SI_TKILL, si_pid=77, si_uid=1000}"),
        (sig(10, -1, 77, 5), "{si_signo=SIGUSR1, si_code=SI_QUEUE, si_pid=77, si_uid=0, si_int=5, si_ptr=0x5}"),
        (sig(14, -2, 3 | 1 << 32, 0), "{si_signo=SIGALRM, si_code=SI_TIMER, si_timerid=0x3, si_overrun=1, si_int=0, si_ptr=NULL}"),
        (sig(17, 2, 99, 9, 1, 2), "{si_signo=SIGCHLD, si_code=CLD_KILLED, si_pid=99, si_uid=0, si_status=SIGKILL, si_utime=1, si_stime=2}"),
        (sig(7, 4, 0x1000, 12), "{si_signo=SIGBUS, si_code=BUS_MCEERR_AR, si_addr=0x1000, si_addr_lsb=0xc}"),
        (sig(6, 0, 5, errno=2), "{si_signo=SIGABRT, si_code=SI_USER, si_errno=ENOENT, si_pid=5, si_uid=0}"),
        (sig(8, 1, 0x401000), "{si_signo=SIGFPE, si_code=FPE_INTDIV, si_addr=0x401000}"),
        (sig(12, 0x80), "{si_signo=SIGUSR2, si_code=SI_KERNEL}"),
    ],
)  # fmt: skip
def test_siginfo_as_strace_prints_it(rec: list[object], line: str) -> None:
    a, err = rec[8], rec[9]
    assert isinstance(a, list) and isinstance(err, int)
    name = line.split("si_signo=", 1)[1].split(",", 1)[0]
    assert strace_line(a, err) == f"--- {name} {line} ---"
    assert short_text(a, err) == line[1:-1].split(", ", 1)[1]


def test_siginfo_in_json_has_numbers_and_names() -> None:
    a = sig(17, 1, 99, 3)[8]
    assert isinstance(a, list)
    assert json_fields(a, 0) == {"si_signo": "SIGCHLD", "si_code": "CLD_EXITED", "si_pid": 99,
                                 "si_uid": 0, "si_status": 3, "si_utime": 0, "si_stime": 0}  # fmt: skip


def event(signo: int, code: int, addr: int, reason: Reason = Reason.FATAL_SIGNAL) -> Event:
    return Event(EventType.TRIGGER, 0, 5, 1000, 42, 44, int(reason), signo, 1, "prog",
                 code, addr)  # fmt: skip


def test_the_fatal_signal_trigger_tells_a_fault_from_a_kill() -> None:
    fault = trigger_from_event(event(11, 1, 0), 0).to_wire()
    assert fault == {**fault, "signal": "SIGSEGV", "si_code": "SEGV_MAPERR", "si_addr": 0,
                     "pid": 42, "tid": 44}  # fmt: skip
    assert "si_pid" not in fault
    sent = trigger_from_event(event(11, 0, 77 | 1000 << 32), 0).to_wire()
    assert sent["si_code"] == "SI_USER" and sent["si_pid"] == 77 and "si_addr" not in sent
    tkill = trigger_from_event(event(11, -6 & U32, 42), 0).to_wire()
    assert tkill["si_code"] == "SI_TKILL"


def test_an_older_kernel_sides_event_parses_without_siginfo() -> None:
    old = struct.pack("<IIQQIIIiQ16s", 2, 0, 5, 1000, 42, 44, 2, 11, 1, b"prog")
    assert len(old) == EVENT_SIZE - 16
    ev = Event.parse(old)
    assert (ev.tid, ev.code, ev.comm, ev.si_code, ev.addr) == (44, 11, "prog", 0, 0)


def test_killed_by_names_the_thread_that_took_the_signal() -> None:
    t = trigger_from_event(event(11, 1, 0), 0).to_wire()
    [line] = trigger_lines({"triggers": [t]})
    assert line.pid == 44 and line.text == "+++ killed by SIGSEGV +++"


def test_signals_are_not_calls_in_the_summary_or_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, records = fixture("calls")
    records = [*records[:5], sig(11, 1), *records[5:]]
    dump = make_dump(tmp_path / "with-signal.msgpack", header, records)
    _, summary, _ = show(capsys, "--summary", "-o", "json", str(dump))
    assert "syscall_2147483648" not in summary and "SIGSEGV" not in summary
    _, failed, _ = show(capsys, "--failed", "-o", "strace", str(dump))
    assert "--- SIGSEGV" not in failed
    _, shown, _ = show(capsys, "-o", "strace", "--syscall-filters", "openat", str(dump))
    assert "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---" in shown
