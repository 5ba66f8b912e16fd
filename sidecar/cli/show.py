"""`traceloop show DUMP...`: what a container did just before it crashed.

Output forms (-o): `table` (traceloop's columns, fit to the terminal),
`strace` (strace -f lines), `json` (one object per call, docs/json-output.md),
`perfetto` (a timeline: Chrome trace-event JSON for ui.perfetto.dev).
--info prints the dump's header (triggers, container, pod, host, recorder,
counts) and a crash summary (how it ended, the thread that died, the
container's last failed calls); --summary counts calls, errors and time per
syscall like strace -c.
strace's own -e trace=, -Z, -z, -t/-tt/-ttt, -r, -T and -s work as in strace:
`show -o strace -tt -T -e trace=%file DUMP`. The table fits the terminal;
with --wide, or when the output is not a terminal (and COLUMNS is not set),
nothing is cut.

A container's runtime (runc's init...) makes the calls before the
container's entrypoint execve: table and strace leave them out behind one
line, --failed and --summary leave them out, JSON marks them; with
--include-runtime they are shown (above the line) and counted.

Filters combine (all must match): --syscall-filters, -e trace=, --pid, --tid,
--comm, --failed (-Z), -z; then --since keeps the calls from DURATION before
the first trigger on (or before the last call when no trigger has a time), and
--last N the last N of those. Dumps are read as a stream: memory stays flat
whatever their size (--last and a --since without a trigger hold only their
window).

Given several dumps (dumps/*/*.msgpack), --namespace, --pod and --container
show only those whose header names that pod or container.

Exit status: 0; 1 when a dump is truncated (what it holds is shown first) or
no dump matches --namespace, --pod and --container; 2 when a file is not a
readable dump or an option is wrong.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Iterable
from operator import itemgetter
from typing import IO, Any

from sidecar.cli.argtypes import count, positive
from sidecar.cli.sources import open_dump
from sidecar.dump.reader import DumpReader
from sidecar.dump.records import TS
from sidecar.model.errors import ERROR_MAX, TraceloopError, UsageError
from sidecar.model.text import escape
from sidecar.render.calls import arch_of
from sidecar.render.crash import Crash
from sidecar.render.forms import Calls, Record, RenderOptions
from sidecar.render.info import ReadStats, info_json, info_text
from sidecar.render.jsonl import JsonForm
from sidecar.render.output import Output
from sidecar.render.perfetto import PerfettoForm
from sidecar.render.runtime import RuntimeMarker, SetupRecord
from sidecar.render.select import Predicate, Selection, predicate, syscall_numbers, window
from sidecar.render.story import Story
from sidecar.render.strace import Shown, Stamps, StraceForm
from sidecar.render.strings import DEFAULT_LIMIT
from sidecar.render.summary import SummaryForm
from sidecar.render.table import TableForm
from sidecar.render.timefmt import parse_duration
from sidecar.render.trace_expr import parse_trace
from sidecar.render.trigger_lines import TriggerLine, first_trigger_ts, trigger_lines


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {value!r}"
        ) from None


def _duration(value: str) -> int:
    ns = parse_duration(value)
    if ns is None:
        raise argparse.ArgumentTypeError(f"not a duration (like 500ms, 2s, 1m): {value!r}")
    return ns


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "show",
        help="print a dump: table, strace lines, JSON, header info or a summary",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dumps", nargs="+", metavar="DUMP", help="dump file, '-' for stdin, s3://...")
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "strace", "json", "perfetto"],
        default="table",
        help="output form (default %(default)s; perfetto: a timeline in Chrome's trace-event "
        "JSON for ui.perfetto.dev, one dump at a time); with --info or --summary, json or text",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--info", action="store_true", help="print the dump's header")
    mode.add_argument("--summary", action="store_true", help="per-syscall counts, like strace -c")
    f = p.add_argument_group("filters")
    f.add_argument(
        "--syscall-filters",
        type=_csv,
        default=[],
        metavar="NAMES",
        help="only these syscalls (comma-separated, e.g. openat,connect)",
    )
    f.add_argument("--pid", type=_ints, default=[], metavar="PIDS", help="only these processes")
    f.add_argument("--tid", type=_ints, default=[], metavar="TIDS", help="only these threads")
    f.add_argument("--comm", type=_csv, default=[], metavar="NAMES", help="only these task names")
    f.add_argument("--failed", action="store_true", help="only calls that returned an error")
    f.add_argument(
        "--include-runtime",
        action="store_true",
        help="also the container runtime's setup before the entrypoint's execve (runc init...): "
        "table and strace show it above a separator line, --failed and --summary count it",
    )
    w = p.add_argument_group(
        "which dumps",
        "with several dumps (dumps/*/*.msgpack), show only those whose header "
        "names these (comma-separated; all given must match)",
    )
    w.add_argument("--namespace", type=_csv, default=[], metavar="NAMES", help="pod namespaces")
    w.add_argument("--pod", type=_csv, default=[], metavar="NAMES", help="pod names")
    w.add_argument(
        "--container",
        type=_csv,
        default=[],
        metavar="NAMES",
        help="container names (the pod's container, else the recorded container's name)",
    )
    f.add_argument("--last", type=positive, metavar="N", help="only the last N calls")
    f.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="only calls from DURATION (500ms, 2s...) before the trigger on",
    )
    d = p.add_argument_group("display")
    d.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="highlight failed calls (auto: on a terminal, unless NO_COLOR is set)",
    )
    d.add_argument("--wide", action="store_true", help="table: never cut a column")
    d.add_argument(
        "-s",
        "--string-limit",
        type=count,
        metavar="N",
        help=f"bytes shown of each buffer (default {DEFAULT_LIMIT}, like strace -s; "
        "paths are always whole; JSON: all captured bytes unless given)",
    )
    _strace_options(p)
    p.set_defaults(func=run)


STRACE_HELP = """\
strace's own options, as strace(1) has them. -e, -Z and -z filter every form
(table, strace, json, --summary); -t, -r and -T shape -o strace lines, which
get `[pid N]` as strace -f's do: while more than one thread is traced, decided
over the whole dump (a filter never changes which lines have it)."""


def _trace_expr(value: str | None) -> str | None:
    """`-e trace=EXPR`, `-e t=EXPR` or a bare `-e EXPR`, as strace reads them."""
    if value is None:
        return None
    qualifier, eq, expr = value.partition("=")
    if not eq:
        return value
    if qualifier in ("trace", "t"):
        return expr
    raise UsageError(f"-e: only strace's trace= qualifier is supported here, not {qualifier!r}")


def _strace_options(p: argparse.ArgumentParser) -> None:
    s = p.add_argument_group("strace options", STRACE_HELP)
    s.add_argument(
        "-e",
        "--trace",
        dest="trace_expr",
        metavar="trace=EXPR",
        help="only these syscalls: names, %%file %%process %%network %%signal %%ipc %%desc "
        "%%memory %%creds %%clock %%stat %%lstat %%fstat %%%%stat %%statfs %%fstatfs "
        "%%%%statfs %%pure (strace's classes), /REGEX, comma-separated; a leading ! "
        "inverts (e.g. -e trace=%%file, -e 'trace=!open,close')",
    )
    s.add_argument(
        "-Z",
        "--failed-only",
        dest="status",
        action="store_const",
        const="failed",
        help="only calls that returned an error (like --failed)",
    )
    s.add_argument(
        "-z",
        "--successful-only",
        dest="status",
        action="store_const",
        const="successful",
        help="only calls that returned without an error",
    )
    s.add_argument(
        "-t",
        dest="clock",
        action="count",
        default=0,
        help="time of day on each line (-t 14:03:07; -tt with microseconds; "
        "-ttt seconds since the epoch)",
    )
    s.add_argument(
        "-r",
        "--relative-timestamps",
        dest="relative",
        action="store_true",
        help="time since the previous line, in seconds (0.000123)",
    )
    s.add_argument(
        "-T",
        "--syscall-times",
        dest="elapsed",
        action="store_true",
        help="time spent in each call (`<0.000012>` at the end of the line)",
    )


def _use_color(choice: str, stream: Any) -> bool:
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _binary(stream: Any) -> IO[bytes]:
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        stream.flush()
        return buf  # type: ignore[no-any-return]
    return _TextAdapter(stream)  # type: ignore[return-value]


class _TextAdapter:
    """For a text-only stdout (e.g. a test's StringIO)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        self.stream.write(data.decode("utf-8"))
        return len(data)

    def flush(self) -> None:
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    _check_strace_options(args)
    sel = Selection(
        syscalls=tuple(args.syscall_filters),
        pids=frozenset(args.pid),
        tids=frozenset(args.tid),
        comms=frozenset(args.comm),
        failed=args.failed or args.status == "failed",
        successful=args.status == "successful",
        trace=_trace_expr(args.trace_expr),
        last=args.last,
        since_ns=args.since,
    )
    multi = len(args.dumps) > 1
    if args.output == "perfetto" and (multi or args.info or args.summary):
        raise UsageError(
            "-o perfetto: one dump's calls (not with several dumps, --info, --summary)"
        )
    out = Output(_binary(sys.stdout))
    worst = 0
    shown = 0
    which = _which(args)
    for arg in args.dumps:
        try:
            with open_dump(arg) as reader:
                if which and not _named(reader.header, which):
                    continue
                if multi and args.output != "json":
                    out.lines(([""] if shown else []) + [f"==> {escape(reader.name)} <=="])
                shown += 1
                _show(reader, args, sel, out, multi)
        except TraceloopError as e:
            out.flush()
            if not multi:
                raise
            print(f"traceloop: error: {escape(str(e), ERROR_MAX)}", file=sys.stderr, flush=True)
            worst = max(worst, e.exit_code)
    out.flush()
    if which and not shown:
        wanted = " ".join(f"--{k} {','.join(v)}" for k, v in which.items())
        print(f"traceloop: no dump matches {escape(wanted)}", file=sys.stderr)
        return max(worst, 1)
    return worst


def _check_strace_options(args: argparse.Namespace) -> None:
    used = [o for o, on in (("-t", args.clock), ("-r", args.relative), ("-T", args.elapsed)) if on]
    if used and (args.output != "strace" or args.summary or args.info):
        raise UsageError(f"{', '.join(used)}: only with -o strace (strace lines)")


def _which(args: argparse.Namespace) -> dict[str, list[str]]:
    return {
        k: v
        for k, v in (
            ("namespace", args.namespace),
            ("pod", args.pod),
            ("container", args.container),
        )
        if v
    }


def _named(header: dict[str, Any], which: dict[str, list[str]]) -> bool:
    """Does the dump's header name what --namespace, --pod and --container ask for?"""
    pod, container = (
        v if isinstance(v, dict) else {} for v in map(header.get, ("pod", "container"))
    )
    have = {
        "namespace": pod.get("namespace"),
        "pod": pod.get("name"),
        "container": pod.get("container") or container.get("name"),
    }
    return all(have[k] in wanted for k, wanted in which.items())


def _show(
    reader: DumpReader, args: argparse.Namespace, sel: Selection, out: Output, multi: bool
) -> None:
    header = reader.header
    if args.info:
        _info(reader, args.output == "json", out)
        return
    calls = Calls(reader.syscalls, arch_of(header))
    nrs = syscall_numbers(sel.syscalls, calls, reader.name) if sel.syscalls else None
    trace = parse_trace(sel.trace, calls.names, calls.arch) if sel.trace is not None else None
    trigger_ts = first_trigger_ts(header)
    # --since counts back from the first trigger; without one, from the last
    # call, which is known only at the end: then it is a window like --last.
    since_cut = trigger_ts - sel.since_ns if sel.since_ns is not None and trigger_ts else None
    tail_since = sel.since_ns if sel.since_ns is not None and not trigger_ts else None
    keep = predicate(sel, nrs, since_cut, trace)
    # The runtime's setup is told apart on every record, before any filter.
    marker = RuntimeMarker.for_dump(header, calls)
    marked = marker.mark(reader)
    # Text listings leave setup out (or show it above a separator line); JSON
    # and perfetto listings mark every call instead; --failed and --summary
    # leave it out.
    text = args.output in ("table", "strace") and not args.summary
    listing = not text and not args.summary and not args.failed
    include = args.include_runtime or listing

    def emit(line: str) -> None:
        out.lines([line])

    if args.output == "strace" and not args.summary:
        # The strace form's items carry their record first, with its prefix
        # and the trigger lines before it.
        lines: Story[Shown] = Story(marker, include, emit, itemgetter(0))
        _strace(marked, reader, args, calls, sel, keep, out, tail_since, lines)
        return
    story: Story[Record] = Story(marker, include, emit)
    records: Iterable[Record] = marked if keep is None else filter(keep, marked)

    json_out = args.output == "json"
    opts = _render_options(args, reader.name if multi else None)
    form: SummaryForm | JsonForm | TableForm | PerfettoForm
    if args.summary:
        form = SummaryForm(calls, json_out, opts.file)
    elif args.output == "perfetto":
        form = PerfettoForm(header, calls, opts, marker)
    elif json_out:
        form = JsonForm(calls, opts)
    else:
        form = TableForm(header, calls, opts)

    if sel.last is None and tail_since is None:
        try:
            form.run(story.records(records) if text else story.hide(records), out)
        finally:
            _left_out(form, story, out)
        return
    shown, err = window(story.hide(records), sel.last, tail_since)
    story.done = not story.include  # a tail: what was left out is not where it starts
    form.run(story.records(shown) if text else shown, out)
    _left_out(form, story, out)
    if err is not None:
        raise err


def _left_out(form: object, story: Story[Record], out: Output) -> None:
    """--summary's text ends with what it did not count."""
    if isinstance(form, SummaryForm) and not form.as_json and story.setup and not story.include:
        n = story.setup
        out.lines([f"(runtime setup left out: {n:,} call{'s' if n != 1 else ''}; "
                   "--include-runtime counts them)"])  # fmt: skip


def _render_options(args: argparse.Namespace, multi_file: str | None) -> RenderOptions:
    machine = args.output in ("json", "perfetto")  # every captured byte, no colour
    text_limit = DEFAULT_LIMIT if args.string_limit is None else args.string_limit
    return RenderOptions(
        limit=args.string_limit if machine else text_limit,
        color=not machine and _use_color(args.color, sys.stdout),
        width=_table_width(args),
        file=multi_file,
    )


def _table_width(args: argparse.Namespace) -> int | None:
    """The table's width: the terminal's; None (nothing cut) with --wide, and
    when the output is not a terminal (a pipe or a file keeps every value
    whole) unless COLUMNS asks for a width."""
    if args.wide:
        return None
    if _isatty(sys.stdout):
        return shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else None


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _strace(
    marked: Iterable[Record],
    reader: DumpReader,
    args: argparse.Namespace,
    calls: Calls,
    sel: Selection,
    keep: Predicate | None,
    out: Output,
    tail_since: int | None,
    story: Story[Shown],
) -> None:
    """The strace form: every record is seen (for the `[pid N]` prefixes and
    the trigger lines), the kept ones shown. Setup left out is dropped by the
    same filter, so a trigger line it carried moves on to the next line shown."""
    header = reader.header
    stamps = Stamps(args.clock, args.relative, args.elapsed, _boot_offset(header, args, reader))
    opts = _render_options(args, reader.name if len(args.dumps) > 1 else None)
    form = StraceForm(calls, opts, _triggers(header, sel), stamps)

    def shows(rec: Record) -> bool:
        if keep is not None and not keep(rec):
            return False
        if rec.__class__ is SetupRecord and not story.include:
            story.setup += 1
            return False
        return True

    shown: Iterable[Shown] = form.mark(marked, shows)
    if sel.last is None and tail_since is None:
        form.run(story.records(shown), out)
        return
    held, err = window(shown, sel.last, tail_since, lambda s: s[0][TS])
    story.done = not story.include  # a tail: what was left out is not where it starts
    form.run(story.records(held), out)
    if err is not None:
        raise err


def _boot_offset(header: dict[str, Any], args: argparse.Namespace, reader: DumpReader) -> int:
    offset = header.get("boot_offset_ns")
    if isinstance(offset, int):
        return offset
    if args.clock:
        raise UsageError(f"{reader.name}: the header has no boot_offset_ns; -t needs it")
    return 0


def _triggers(header: dict[str, Any], sel: Selection) -> list[TriggerLine]:
    lines = trigger_lines(header)
    if sel.pids:
        lines = [t for t in lines if t.pid in sel.pids]
    if sel.tids or sel.comms:
        # A trigger names its thread and task too: keep the ones the filters keep.
        trig = [t for t in header.get("triggers", []) if isinstance(t, dict)]
        ok = {
            (t.get("ts_ns"), t.get("pid"))
            for t in trig
            if (not sel.tids or t.get("tid") in sel.tids)
            and (not sel.comms or t.get("comm") in sel.comms)
        }
        lines = [t for t in lines if (t.ts, t.pid) in ok]
    return lines


def _info(reader: DumpReader, as_json: bool, out: Output) -> None:
    stats = ReadStats()
    err: TraceloopError | None = None
    calls = Calls(reader.syscalls, arch_of(reader.header))
    marker = RuntimeMarker.for_dump(reader.header, calls)
    crash = Crash(reader.header, marker)
    try:
        for rec in marker.mark(reader):
            ts = rec[TS]
            if stats.first_ts is None:
                stats.first_ts = ts
            stats.last_ts = ts
            crash.add(rec)
        stats.complete = True
    except TraceloopError as e:
        err = e
    stats.records = reader.count
    if as_json:
        out.lines([info_json(reader.name, reader.header, stats, (crash, calls))])
    else:
        out.lines(info_text(reader.name, reader.header, stats, (crash, calls)))
    if err is not None:
        raise err
