"""`traceloop ls` (dumps in a directory or in S3) and `traceloop fetch` (from S3)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sidecar.cli.argtypes import count
from sidecar.model.errors import SinkError, UsageError
from sidecar.model.text import escape
from sidecar.sinks.listing import Listed, list_local
from sidecar.sinks.local import atomic_write

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def add_parser(sub: Any) -> None:
    from sidecar.cli.s3options import add_client_options

    p = sub.add_parser(
        "ls",
        help="list dumps in a directory or in S3, newest first",
        description="List the dumps under a directory (at any depth; what each dump's "
        "header says) or under s3://BUCKET/PREFIX (what each object's metadata says), "
        "newest crash first, with the reason, node, pod and container.",
    )
    p.add_argument(
        "url",
        nargs="?",
        metavar="DIR|s3://BUCKET[/PREFIX]",
        help="default: $TRACELOOP_SINK (what a recorder pod's settings set)",
    )
    p.add_argument(
        "-n",
        "--limit",
        type=count,
        default=100,
        help="show the newest N (default %(default)s; 0: all)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_client_options(p.add_argument_group("S3"))
    p.set_defaults(func=run_ls)

    f = sub.add_parser(
        "fetch",
        help="download a dump from S3",
        description="Download s3://BUCKET/KEY to a file (atomically, mode 0600), checking "
        "it against the sha256 in its metadata. Read it with `traceloop show FILE` "
        "(or show the URL directly).",
    )
    f.add_argument("url", metavar="s3://BUCKET/KEY")
    f.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file or existing directory to write to, or - for standard output "
        "(default: the key's last part, in the current directory)",
    )
    f.add_argument("--force", action="store_true", help="replace an existing file")
    add_client_options(f.add_argument_group("S3"))
    f.set_defaults(func=run_fetch)


def _client(args: argparse.Namespace) -> S3Client:
    from sidecar.cli.s3options import client_options_from
    from sidecar.sinks import s3

    return s3.make_client(client_options_from(args))


def shown(text: str) -> str:
    """`text` for a terminal: what a dump or an object's metadata says is the
    workload's or anyone's (sidecar/model/text.py)."""
    return escape(text)


def run_ls(args: argparse.Namespace) -> int:
    problems: list[str] = []
    if args.url is None:
        args.url = os.environ.get("TRACELOOP_SINK") or ""
        if not args.url:
            raise UsageError("ls: give a directory or an s3:// URL (or set TRACELOOP_SINK)")
    if args.url.startswith("s3://"):
        from sidecar.sinks import s3

        items = s3.list_dumps(_client(args), args.url, args.limit)
    else:
        root = Path(args.url.removeprefix("file://"))
        if not root.is_dir():
            raise UsageError(f"ls: {args.url}: not a directory (or an s3:// URL)")
        items, problems = list_local(root, args.limit)
    for line in problems:
        print(f"traceloop: warning: {shown(line)}", file=sys.stderr)
    if args.json:
        for i in items:
            # json escapes controls and non-ASCII but not DEL; the terminal gets none raw.
            sys.stdout.write(json.dumps(asdict(i)).replace("\x7f", "\\u007f") + "\n")
    elif items:
        dump_table(items, sys.stdout)
    else:
        print(f"traceloop: no dumps under {shown(args.url)}", file=sys.stderr)
    return 1 if problems else 0


def _destination(url: str, key: str, output: str | None) -> Path | None:
    if output == "-":
        return None
    name = key.rsplit("/", 1)[-1]
    if not output:
        return Path(name)
    p = Path(output)
    if p.is_dir() or output.endswith("/"):
        return p / name
    return p


def run_fetch(args: argparse.Namespace) -> int:
    from sidecar.sinks import s3

    bucket, key = s3.split_object_url(args.url)
    dest = _destination(args.url, key, args.output)
    if dest is not None and dest.exists() and not args.force:
        raise UsageError(f"fetch: {dest} exists (use --force to replace it)")
    client = _client(args)
    try:
        expected = client.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    except Exception:
        expected = None  # the GET below says what is wrong, if anything
    stream, _ = s3.get_object_stream(client, args.url)
    sha = hashlib.sha256()
    total = 0

    def copy(out: IO[bytes]) -> None:
        nonlocal total
        with stream:
            while chunk := stream.read(1 << 20):
                sha.update(chunk)
                out.write(chunk)
                total += len(chunk)
        if expected and sha.hexdigest() != expected:
            raise SinkError(f"{args.url}: downloaded data does not match its sha256; not kept")

    try:
        if dest is None:
            copy(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            atomic_write(dest, copy)
    except OSError as e:
        raise SinkError(f"fetch {args.url}: {e}") from None
    if dest is not None:
        print(f"traceloop: fetched {args.url} to {dest} ({total} bytes)", file=sys.stderr)
    return 0


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"


def dump_table(
    items: Iterable[Listed],
    out: IO[str],
    last: tuple[str, Callable[[Listed], str]] = ("URL", lambda i: i.url),
) -> None:
    """`ls`'s table: one row per dump, `last` (a title and a cell) at the end."""
    title, cell = last
    rows = [["TIME", "REASON", "NODE", "POD", "CONTAINER", "SIZE", title]]
    for i in items:
        pod = f"{i.namespace}/{i.pod}" if i.pod else "-"
        # Keys, percent-decoded metadata and headers are anyone's who can write
        # to the bucket or the directory: every cell is escaped (ESC, CR...
        # cannot reach the terminal).
        cells = [i.time or i.last_modified, i.reason or "-", i.node or "-", pod,
                 i.container or "-", human_size(i.size), cell(i)]  # fmt: skip
        rows.append([escape(c, 300) for c in cells])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [r[c].ljust(widths[c]) for c in range(len(widths))]
        out.write("  ".join([*cells, r[-1]]) + "\n")
