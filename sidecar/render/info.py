"""The --info form: what a dump's header says, as text or one JSON object.

The reader has checked every field's type and bounds (sidecar/dump/schema.py);
fields may still be missing, and their text is the file's: every value printed
is escaped (sidecar/model/text.py), and JSON is strict and terminal-safe.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.model.text import escape
from sidecar.render.crash import Crash, how_it_ended, siginfo
from sidecar.render.forms import Calls, Record, RenderOptions
from sidecar.render.jsonl import JsonForm
from sidecar.render.output import json_text
from sidecar.render.story import setup_summary
from sidecar.render.strace import StraceForm
from sidecar.render.timefmt import duration

TABLES = ("syscalls", "captures")  # per-syscall tables: counted, not printed
MAX_DEPTH = 16


@dataclass
class ReadStats:
    """What reading the records found (the header cannot say if the file is whole)."""

    records: int = 0
    first_ts: int | None = None
    last_ts: int | None = None
    complete: bool = False


def plain(v: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: str keys, bytes as text, depth-bounded."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(v, dict):
        return {str(k): plain(x, depth + 1) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [plain(x, depth + 1) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


def info_json(
    name: str, header: Mapping[str, Any], stats: ReadStats, crash: tuple[Crash, Calls] | None = None
) -> str:
    out: dict[str, Any] = {"file": name}
    for k, v in header.items():
        if k not in TABLES:
            out[str(k)] = plain(v)
    sc = header.get("syscalls")
    out["syscall_count"] = len(sc) if isinstance(sc, dict) else 0
    out["read"] = {
        "records": stats.records,
        "complete": stats.complete,
        "first_ts": stats.first_ts,
        "last_ts": stats.last_ts,
    }
    if crash is not None:
        out["crash"] = crash_json(*crash)
    return json_text(out)


def _get(m: Any, key: str) -> Any:
    return m.get(key) if isinstance(m, dict) else None


def _kv(m: Any, keys: list[str]) -> str:
    if not isinstance(m, dict):
        return ""
    return ", ".join(f"{k} {m[k]}" for k in keys if m.get(k) is not None)


def trigger_text(t: Any) -> str:
    if not isinstance(t, dict):
        return str(t)
    what = str(t.get("reason", "?"))
    if t.get("source") is not None:
        what += f" ({t['source']})"
    facts = []
    if t.get("exit_code") is not None:
        facts.append(f"exit code {t['exit_code']}")
    if t.get("signal") is not None:
        facts.append(f"signal {t['signal']}")
    if isinstance(t.get("core_dumped"), bool):
        facts.append("core dumped" if t["core_dumped"] else "no core dumped")
    if t.get("si_code") is not None:  # a fatal signal's siginfo: a fault, or who sent it
        facts.append(f"si_code {t['si_code']}")
    if isinstance(t.get("si_addr"), int):
        facts.append(f"si_addr {hex(t['si_addr']) if t['si_addr'] else 'NULL'}")
    if t.get("si_pid") is not None:
        facts.append(f"sent by pid {t['si_pid']}")
    if t.get("pid") is not None:
        who = f"pid {t['pid']}"
        if t.get("tid") not in (None, t.get("pid")):
            who += f" tid {t['tid']}"
        if t.get("comm") is not None:
            who += f" ({t['comm']})"
        facts.append(who)
    if t.get("time") is not None:
        facts.append(f"at {t['time']}")
    if t.get("detail"):
        detail = json.dumps(plain(t["detail"]), separators=(",", ":"), ensure_ascii=False)
        facts.append(f"detail {detail}")
    return what + (": " + ", ".join(facts) if facts else "")


def info_text(
    name: str, header: Mapping[str, Any], stats: ReadStats, crash: tuple[Crash, Calls] | None = None
) -> list[str]:
    rows: list[tuple[str, str]] = [("file", name)]
    rows.append(
        (
            "format",
            f"{header.get('format')} version {header.get('version')}"
            + (f", written {header['created']}" if header.get("created") else ""),
        )
    )
    trig = header.get("triggers")
    for t in trig if isinstance(trig, list) else []:
        rows.append(("trigger", trigger_text(t)))
    if not trig:
        rows.append(("trigger", "none recorded"))
    c = header.get("container")
    if isinstance(c, dict):
        rows.append(("container", str(c.get("name", "?"))))
        if c.get("id"):
            rows.append(("  id", str(c["id"])))
        if c.get("runtime"):
            rows.append(("  runtime", str(c["runtime"])))
        if c.get("cgroup_path") is not None or c.get("cgroup_id") is not None:
            rows.append(("  cgroup", f"{c.get('cgroup_path', '?')} (id {c.get('cgroup_id', '?')})"))
        rec = c.get("recording")
        if isinstance(rec, dict) and rec.get("complete") is False:
            # The window cannot reach back to the container's first call.
            rows.append(
                (
                    "  recording",
                    f"began mid-life: {rec.get('why', '?')}, since {rec.get('since', '?')}",
                )
            )
        elif isinstance(rec, dict) and rec.get("complete") is True:
            rows.append(("  recording", "complete (from the container's first call)"))
        cmd = c.get("command")
        if isinstance(cmd, list):
            rows.append(("  command", shlex.join(str(x) for x in cmd)))
        if c.get("exit_status") is not None:
            rows.append(("  exit", str(c["exit_status"])))
    pod = header.get("pod")
    if isinstance(pod, dict):
        rows.append(("pod", f"{pod.get('namespace', '?')}/{pod.get('name', '?')}"))
        for k in ("node", "container", "uid", "container_id", "image"):
            if pod.get(k) is not None:
                rows.append((f"  {k}", str(pod[k])))
    else:
        rows.append(("pod", "none (not a Kubernetes container)"))
    host = header.get("host")
    if isinstance(host, dict):
        rows.append(("host", _kv(host, ["hostname", "node", "kernel", "arch"])))
    rec = header.get("recorder")
    if isinstance(rec, dict):
        keys = ["version", "slots", "containers", "path_cap", "buf_cap", "sa_cap", "buffers",
                "raw_tracepoints"]  # fmt: skip
        rows.append(("recorder", _kv(rec, keys)))
        filt = rec.get("syscall_filters")
        rows.append(("  filters", ", ".join(map(str, filt)) if filt else "none (all syscalls)"))
        if isinstance(rec.get("kernel_stats"), dict):
            rows.append(("  kernel", _kv(rec["kernel_stats"], list(map(str, rec["kernel_stats"])))))
    counts = header.get("counts")
    if isinstance(counts, dict):
        keys = ["recorded", "overwritten", "incomplete", "after_freeze", "dropped", "total"]
        rows.append(("counts", _kv(counts, keys)))
    win = header.get("window")
    if isinstance(win, dict):
        rows.append(("window", _kv(win, ["seconds", "cut"])))
    sc = header.get("syscalls")
    rows.append(("syscalls", f"{len(sc) if isinstance(sc, dict) else 0} in the dump's table"))
    span = ""
    if stats.first_ts is not None and stats.last_ts is not None:
        span = f", spanning {duration(stats.last_ts - stats.first_ts) or '0ns'}"
    state = "complete" if stats.complete else "TRUNCATED or damaged"
    rows.append(("records", f"{stats.records} read{span} ({state})"))
    width = max(len(k) for k, _ in rows) + 2
    # Every value holds text from the file: escaped, whatever it is.
    lines = [f"{k:<{width}}{escape(v)}".rstrip() for k, v in rows]
    if crash is not None:
        # A block of its own after a blank line; its rows come escaped (call
        # lines are escaped as they are rendered).
        block = crash_rows(*crash)
        width = max(len(k) for k, _ in block) + 2
        lines += [""] + [f"{k:<{width}}{v}".rstrip() for k, v in block]
    return lines


def _strace_line(calls: Calls) -> Callable[[Record], str]:
    """An strace line that names its process: the summary's calls come from several."""
    form = StraceForm(calls, RenderOptions())
    return lambda rec: form.line((rec, True, []))


def crash_rows(crash: Crash, calls: Calls) -> list[tuple[str, str]]:
    """The crash summary's rows, escaped: how it ended, who, the failures."""
    line = _strace_line(calls)
    t = crash.trigger
    rows = [("crash", escape(how_it_ended(t, crash.header)))]
    info = siginfo(t)
    if info:
        rows.append(
            ("  siginfo", escape("{" + ", ".join(f"{k}={v}" for k, v in info.items()) + "}"))
        )
    who = crash.thread
    if who is not None:
        text = f"pid {who['pid']}" + (f" tid {who['tid']}" if who["tid"] != who["pid"] else "")
        text += f" ({who['comm']})" if who.get("comm") is not None else ""
        rows.append(("  thread", escape(text)))
        if crash.last_call is not None:
            rows.append(("  last call", line(crash.last_call)))
    m = crash.marker
    if crash.entry_call is not None:
        rows.append(("  entrypoint", line(crash.entry_call)))
    if m.setup:
        rows.append(("  runtime", setup_summary(m)))
    failed = crash.failed
    label = "  failed (runtime)" if crash.failed_in_setup else "  failed"
    if not failed:
        rows.append((label, "none of the container's own calls failed"))
    for i, rec in enumerate(failed):
        rows.append((label if i == 0 else "", line(rec)))
    return rows


def crash_json(crash: Crash, calls: Calls) -> dict[str, Any]:
    obj = JsonForm(calls, RenderOptions(limit=None)).obj
    t = crash.trigger
    m = crash.marker

    def call(rec: Record | None) -> dict[str, Any] | None:
        return None if rec is None else obj(rec)

    return {
        "how": how_it_ended(t, crash.header),
        "reason": t.get("reason") if t else None,
        "exit_code": t.get("exit_code") if t else None,
        "signal": t.get("signal") if t else None,
        "siginfo": plain(siginfo(t)),
        "thread": crash.thread,
        "last_call": call(crash.last_call),
        "entrypoint": call(crash.entry_call),
        "runtime_setup": {"calls": m.setup, "names": sorted(m.comms), "entrypoint_ran": m.started},
        "failed": [obj(r) for r in crash.failed],
        "failed_in_runtime_setup": crash.failed_in_setup,
    }
